// Forbidden sample: must fail scripts/check-determinism.sh.
void Bad() {
  auto t = std::chrono::steady_clock::now();  // expect-violation
}
