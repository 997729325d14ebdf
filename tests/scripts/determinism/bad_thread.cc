// Forbidden sample: must fail scripts/check-determinism.sh.
void Bad() {
  std::thread worker([] {});  // expect-violation
}
