# More real clients against a real runnel (label interop): compression.type conversion
# (compression_interop.py), librdkafka's C API (c/librdkafka_interop.c) and kafkajs
# (kafkajs/produce_consume.js). run_with_broker.py starts the broker on a free 127.0.0.1 port
# with a temporary data dir, runs the client with the address and stops the broker by PID.
if(TARGET runnel)
  set(clients_python /usr/bin/python3)
  set(clients_wrapper ${CMAKE_CURRENT_LIST_DIR}/run_with_broker.py)

  add_test(NAME interop_compression
    COMMAND ${clients_python} ${CMAKE_CURRENT_LIST_DIR}/compression_interop.py
      --runnel $<TARGET_FILE:runnel>)
  set_tests_properties(interop_compression PROPERTIES LABELS interop TIMEOUT 180)

  # librdkafka (Debian's librdkafka-dev, pkg-config rdkafka; scripts/setup.sh installs it).
  pkg_check_modules(RDKAFKA IMPORTED_TARGET rdkafka)
  if(RDKAFKA_FOUND)
    add_executable(librdkafka_interop c/librdkafka_interop.c)
    target_link_libraries(librdkafka_interop PRIVATE PkgConfig::RDKAFKA)
    set_target_properties(librdkafka_interop PROPERTIES
      RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    add_test(NAME interop_librdkafka_c
      COMMAND ${clients_python} ${clients_wrapper} --runnel $<TARGET_FILE:runnel>
        -- $<TARGET_FILE:librdkafka_interop> {bootstrap})
    set_tests_properties(interop_librdkafka_c PROPERTIES LABELS interop TIMEOUT 180)
  endif()

  # kafkajs 2.2.4 (tests/interop/kafkajs/package-lock.json; scripts/setup.sh runs npm ci there).
  # Without node the test reports "skipped: node not installed" (exit 77).
  add_test(NAME interop_kafkajs
    COMMAND ${clients_python} ${clients_wrapper} --runnel $<TARGET_FILE:runnel> --skip-if-missing
      -- node ${CMAKE_CURRENT_LIST_DIR}/kafkajs/produce_consume.js {bootstrap})
  set_tests_properties(interop_kafkajs PROPERTIES LABELS interop TIMEOUT 180 SKIP_RETURN_CODE 77)
endif()
