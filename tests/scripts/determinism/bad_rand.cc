// Forbidden sample: must fail scripts/check-determinism.sh.
void Bad() {
  int r = rand();  // expect-violation
}
