# Examples (examples/): short runs that must learn; they skip when their
# dataset is not installed.
add_test(NAME fashion_mlp_short
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/examples/run_fashion_mlp.sh $<TARGET_FILE:fashion_mlp>)
set_tests_properties(fashion_mlp_short PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS example)
add_test(NAME fashion_cnn_short
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/examples/run_fashion_cnn.sh $<TARGET_FILE:fashion_cnn>)
set_tests_properties(fashion_cnn_short PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS example)
add_test(NAME gpt_char_short
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/examples/run_gpt_char.sh $<TARGET_FILE:gpt_char>)
set_tests_properties(gpt_char_short PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS example)
