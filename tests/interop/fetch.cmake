# Fetch sessions over the real wire (a raw Fetch v12 client) and kcat against a runnel started
# with --smp 2 --listen 127.0.0.1:0 (the bound port read from its log).
if(TARGET runnel)
  add_test(NAME interop_fetch_sessions
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/fetch_interop.py
      --runnel $<TARGET_FILE:runnel> --kcat ${KCAT_PROGRAM})
  set_tests_properties(interop_fetch_sessions PROPERTIES LABELS interop TIMEOUT 180)
endif()
