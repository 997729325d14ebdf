// Forbidden sample: must fail scripts/check-determinism.sh.
void Bad() {
  std::random_device rd;  // expect-violation
}
