# Consumer groups through real clients (labels interop, groups): kcat -G, kafka-python,
# confluent-kafka, and a SIGKILL restart keeping committed offsets and the group list.
if(TARGET runnel)
  find_program(KCAT_PROGRAM kcat)
  add_test(NAME interop_groups
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/groups_interop.py
      --runnel $<TARGET_FILE:runnel> --kcat ${KCAT_PROGRAM})
  set_tests_properties(interop_groups PROPERTIES LABELS "interop;groups" TIMEOUT 300)
endif()
