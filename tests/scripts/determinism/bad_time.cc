// Forbidden sample: must fail scripts/check-determinism.sh.
void Bad() {
  long t = time(nullptr);  // expect-violation
}
