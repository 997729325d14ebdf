# The connection's request reader on a simulated broker (ctest -L broker).
if(TARGET runnel_broker)
  runnel_add_test(broker_connection_test LABELS broker SOURCES connection_test.cc
    LIBS runnel_broker runnel_sim)
endif()
