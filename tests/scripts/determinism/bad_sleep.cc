// Forbidden sample: must fail scripts/check-determinism.sh.
void Bad() {
  std::this_thread::sleep_for(ms);  // expect-violation
}
