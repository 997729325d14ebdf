// Forbidden sample: must fail scripts/check-determinism.sh.
void Bad() {
  int s = socket(AF_INET, SOCK_STREAM, 0);  // expect-violation
}
