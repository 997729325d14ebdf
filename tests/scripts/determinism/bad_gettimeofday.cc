// Forbidden sample: must fail scripts/check-determinism.sh.
void Bad() {
  gettimeofday(&tv, nullptr);  // expect-violation
}
