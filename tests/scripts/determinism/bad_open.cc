// Forbidden sample: must fail scripts/check-determinism.sh.
void Bad() {
  int fd = open("/tmp/x", 0);  // expect-violation
}
