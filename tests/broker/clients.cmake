# compression.type conversion on produce, on a simulated broker (ctest -L broker).
if(TARGET runnel_broker)
  runnel_add_test(broker_produce_compression_test LABELS broker
    SOURCES produce_compression_test.cc LIBS runnel_broker runnel_sim)
endif()
