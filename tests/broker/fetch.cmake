# Fetch sessions (KIP-227) and cross-shard long polling on a simulated broker (ctest -L broker).
if(TARGET runnel_broker)
  runnel_add_test(broker_fetch_session_test LABELS broker SOURCES fetch_session_test.cc
    LIBS runnel_broker runnel_sim)
endif()
