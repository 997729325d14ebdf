// Forbidden sample: must fail scripts/check-determinism.sh.
void Bad() {
  ::read(fd, buf, 10);  // expect-violation
}
