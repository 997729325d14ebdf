// Forbidden sample: must fail scripts/check-determinism.sh.
void Bad() {
  std::unordered_map<Partition*, int> by_ptr;  // expect-violation
}
