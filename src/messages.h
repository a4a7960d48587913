/* Every error the module replies, with the spec's text, each defined once: this list
 * makes both the AIErrCode enum (errors.h) and the table of texts (errors.c).
 *
 * A text with %s takes one argument (ai_error_set_arg); no other conversion is allowed.
 * Texts without an ERR prefix are RedisAI's and are kept so: clients match them exactly. */
#pragma once

#define AI_ERRORS(X)                                                                               \
    /* A backend's or Redis's own message, carried whole in the detail. */                         \
    X(AI_ERR_DETAIL, "ERR unknown error")                                                          \
    X(AI_ERR_WRONGTYPE, REDISMODULE_ERRORMSG_WRONGTYPE)                                            \
    X(AI_ERR_ARITY, "ERR wrong number of arguments for '%s' command")                              \
    X(AI_ERR_IN_TRANSACTION,                                                                       \
      "ERR Cannot run RedisAI command within a transaction or a LUA script")                       \
    /* Tensors */                                                                                  \
    X(AI_ERR_INVALID_DTYPE, "ERR invalid data type")                                               \
    X(AI_ERR_SHAPE, "ERR invalid or negative value found in tensor shape")                         \
    X(AI_ERR_BLOB_ARITY, "ERR a single binary string should come after the BLOB argument in "      \
                         "'AI.TENSORSET' command")                                                 \
    X(AI_ERR_VALUES_COUNT, "ERR wrong number of values was given in 'AI.TENSORSET' command")       \
    X(AI_ERR_DATA_LENGTH, "ERR data length does not match tensor shape and type")                  \
    X(AI_ERR_BOOL_BLOB, "ERR BOOL tensor elements must be 0 or 1")                                 \
    X(AI_ERR_STRING_BLOB, "ERR Number of string elements in data blob does not match tensor "      \
                          "length")                                                                \
    X(AI_ERR_INVALID_VALUE, "ERR invalid value")                                                   \
    X(AI_ERR_CSTRING_NUL, "ERR C-string value contains null character")                            \
    X(AI_ERR_TENSOR_EMPTY, "ERR tensor key is empty or in a different shard")                      \
    X(AI_ERR_DATA_FORMAT, "ERR unsupported data format")                                           \
    X(AI_ERR_BLOB_AND_VALUES, "ERR both BLOB and VALUES specified")                                \
    X(AI_ERR_UNSUPPORTED_DTYPE, "ERR unsupported dtype")                                           \
    X(AI_ERR_TENSOR_TOO_LARGE, "ERR tensor is too large")                                          \
    X(AI_ERR_NO_MEMORY, "ERR Cannot allocate memory")                                              \
    X(AI_ERR_OUTPUT_DTYPE, "ERR unsupported output dtype")                                         \
    /* Storing models */                                                                           \
    X(AI_ERR_UNSUPPORTED_BACKEND, "ERR unsupported backend")                                       \
    X(AI_ERR_INVALID_DEVICE, "ERR Invalid DEVICE")                                                 \
    X(AI_ERR_UNSUPPORTED_DEVICE, "ERR unsupported device")                                         \
    X(AI_ERR_BATCHSIZE, "ERR Invalid argument for BATCHSIZE")                                      \
    X(AI_ERR_MINBATCHSIZE, "ERR Invalid argument for MINBATCHSIZE")                                \
    X(AI_ERR_MINBATCHTIMEOUT, "ERR Invalid argument for MINBATCHTIMEOUT")                          \
    X(AI_ERR_MINBATCH_NO_BATCH, "ERR MINBATCHSIZE specified without BATCHSIZE")                    \
    X(AI_ERR_MINTIMEOUT_NO_BATCH, "ERR MINBATCHTIMEOUT specified without BATCHSIZE")               \
    X(AI_ERR_MINTIMEOUT_NO_MINBATCH, "ERR MINBATCHTIMEOUT specified without MINBATCHSIZE")         \
    X(AI_ERR_TFLITE_BATCHING, "ERR Auto-batching not supported by the TFLITE backend")             \
    X(AI_ERR_MISSING_BLOB, "ERR Insufficient arguments, missing model BLOB")                       \
    X(AI_ERR_EXPECTED_BLOB, "ERR Invalid argument, expected BLOB")                                 \
    X(AI_ERR_TF_NO_INPUTS, "ERR INPUTS not specified for TF")                                      \
    X(AI_ERR_TF_NO_OUTPUTS, "ERR OUTPUTS not specified for TF")                                    \
    X(AI_ERR_TF_NO_IO, "ERR Insufficient arguments, INPUTS and OUTPUTS not specified")             \
    X(AI_ERR_INPUT_COUNT, "ERR Invalid argument for input_count")                                  \
    X(AI_ERR_OUTPUT_COUNT, "ERR Invalid argument for output_count")                                \
    X(AI_ERR_TF_INPUTS_ARGS, "ERR number of model inputs does not match the number of given "      \
                             "arguments")                                                          \
    X(AI_ERR_TF_OUTPUTS_ARGS, "ERR number of model outputs does not match the number of given "    \
                              "arguments")                                                         \
    X(AI_ERR_INPUTS_NOT_FOR_BACKEND, "ERR INPUTS argument should not be specified for this "       \
                                     "backend")                                                    \
    X(AI_ERR_MODEL_EMPTY, "ERR model key is empty")                                                \
    /* What a model or script may not do (roadmap R5): refused when stored, or kept                \
     * unrunnable when it comes from RDB, AOF or a master (ai_error_is_refusal) */                 \
    X(AI_ERR_MODEL_FORBIDDEN, "ERR model uses a forbidden operator: %s")                           \
    X(AI_ERR_SCRIPT_FORBIDDEN, "ERR script uses a forbidden operator: %s")                         \
    X(AI_ERR_EXTERNAL_DATA, "Initializer tensors with external data is not allowed.")              \
    X(AI_ERR_NO_QUEUE, "ERR cannot start the device's worker threads")                             \
    /* Running models */                                                                           \
    X(AI_ERR_NO_INPUTS, "ERR INPUTS not specified")                                                \
    X(AI_ERR_NO_OUTPUTS, "ERR OUTPUTS not specified")                                              \
    X(AI_ERR_INPUT_COUNT_POSITIVE, "ERR Input count must be a positive integer")                   \
    X(AI_ERR_OUTPUT_COUNT_POSITIVE, "ERR Output count must be a positive integer")                 \
    X(AI_ERR_INPUTS_MISMATCH, "Number of keys given as INPUTS here does not match model "          \
                              "definition")                                                        \
    X(AI_ERR_OUTPUTS_MISMATCH, "Number of keys given as OUTPUTS here does not match model "        \
                               "definition")                                                       \
    X(AI_ERR_EXEC_INPUT_ARGS, "ERR number of input keys to AI.MODELEXECUTE command does not "      \
                              "match the number of given arguments")                               \
    X(AI_ERR_EXEC_OUTPUT_ARGS, "ERR number of output keys to AI.MODELEXECUTE command does not "    \
                               "match the number of given arguments")                              \
    X(AI_ERR_TIMEOUT_MISSING, "ERR No value provided for TIMEOUT")                                 \
    X(AI_ERR_TIMEOUT_INVALID, "ERR Invalid value for TIMEOUT")                                     \
    X(AI_ERR_INVALID_ARGUMENT, "Invalid argument: %s")                                             \
    X(AI_ERR_BATCH_SIZE, "ERR Model did not generate the expected batch size")                     \
    X(AI_ERR_TF_BATCH_SIZE, "ERR Tensorflow batching error: model did not generate the "           \
                            "expected batch size")                                                 \
    /* Time to response (roadmap R3): TTR on the run commands */                                   \
    X(AI_ERR_TTR_MISSING, "ERR No value provided for TTR")                                         \
    X(AI_ERR_TTR_INVALID, "ERR Invalid value for TTR")                                             \
    X(AI_ERR_TTR_UNMET, "ERR TTR cannot be met (estimated %s ms)")                                 \
    X(AI_ERR_DAG_TTR_IN_OP, "ERR TTR not allowed within a DAG command")                            \
    /* AI.INFO, AI.CONFIG */                                                                       \
    X(AI_ERR_NO_RUN_INFO, "ERR cannot find run info for key")                                      \
    X(AI_ERR_UNSUPPORTED_SUBCOMMAND, "ERR unsupported subcommand")                                 \
    X(AI_ERR_LOADING_BACKEND, "ERR error loading backend")                                         \
    X(AI_ERR_BACKENDSPATH_MISSING, "ERR BACKENDSPATH: missing path argument")                      \
    X(AI_ERR_CHUNK_MISSING, "ERR MODEL_CHUNK_SIZE: missing chunk size")                            \
    X(AI_ERR_CHUNK_INVALID, "ERR MODEL_CHUNK_SIZE: invalid chunk size")                            \
    X(AI_ERR_TENSOR_MAX_MISSING, "ERR TENSOR_MAX_BYTES: missing size")                             \
    X(AI_ERR_TENSOR_MAX_INVALID, "ERR TENSOR_MAX_BYTES: invalid size")                             \
    /* Storing scripts */                                                                          \
    X(AI_ERR_SCRIPT_EMPTY, "ERR script key is empty")                                              \
    X(AI_ERR_MISSING_ENTRY_POINTS, "ERR Insufficient arguments, missing script entry points")      \
    X(AI_ERR_ENTRY_POINTS_NUMBER, "ERR Non numeric entry points number provided to "               \
                                  "AI.SCRIPTSTORE command")                                        \
    X(AI_ERR_MISSING_SOURCE, "ERR Insufficient arguments, missing script SOURCE")                  \
    /* AI.SCRIPTEXECUTE */                                                                         \
    X(AI_ERR_SE_SCOPE_FIRST, "ERR KEYS or INPUTS scope must be provided first for "                \
                             "AI.SCRIPTEXECUTE command")                                           \
    X(AI_ERR_SE_KEYS_MISSING, "ERR Missing arguments after KEYS keyword")                          \
    X(AI_ERR_SE_KEYS_COUNT, "ERR Invalid or negative value found in number of KEYS")               \
    X(AI_ERR_SE_KEYS_ARGS, "ERR Number of pre declared KEYS to be used in the command does not "   \
                           "match the number of given arguments")                                  \
    X(AI_ERR_SE_INVALID_ARGS, "ERR Invalid arguments provided to AI.SCRIPTEXECUTE")                \
    X(AI_ERR_SE_INPUTS_COUNT, "ERR Invalid argument for inputs count in AI.SCRIPTEXECUTE")         \
    X(AI_ERR_SE_INPUTS_ARGS, "ERR number of inputs to AI.SCRIPTEXECUTE command does not match "    \
                             "the number of given arguments")                                      \
    X(AI_ERR_SE_ARGS_COUNT, "ERR Invalid argument for keys count in AI.SCRIPTEXECUTE")             \
    X(AI_ERR_SE_ARGS_ARGS, "ERR number of args to AI.SCRIPTEXECUTE command does not match the "    \
                           "number of given arguments")                                            \
    X(AI_ERR_SE_OUTPUTS_COUNT, "ERR Invalid argument for outputs count in AI.SCRIPTEXECUTE")       \
    X(AI_ERR_SE_OUTPUTS_ARGS, "ERR number of outputs to AI.SCRIPTEXECUTE command does not match "  \
                              "the number of given arguments")                                     \
    X(AI_ERR_SE_ALREADY, "ERR Already Encountered %s scope in AI.SCRIPTEXECUTE command")           \
    X(AI_ERR_SE_TIMEOUT_MISSING, "ERR No value provided for TIMEOUT in AI.SCRIPTEXECUTE")          \
    X(AI_ERR_SE_AFTER_TIMEOUT, "ERR Encountered problem parsing AI.SCRIPTEXECUTE")                 \
    X(AI_ERR_SE_UNEXPECTED, "ERR Invalid AI.SCRIPTEXECUTE command. Unexpected argument: %s")       \
    /* AI.SCRIPTRUN */                                                                             \
    X(AI_ERR_SR_TIMEOUT_TWICE, "ERR Already encountered an TIMEOUT section in SCRIPTRUN")          \
    X(AI_ERR_SR_INPUTS_KEYWORD, "ERR Already encountered an INPUTS keyword in SCRIPTRUN")          \
    X(AI_ERR_SR_INPUTS_SECTION, "ERR Already encountered an INPUTS section in SCRIPTRUN")          \
    X(AI_ERR_SR_OUTPUTS_KEYWORD, "ERR Already encountered an OUTPUTS keyword in SCRIPTRUN")        \
    X(AI_ERR_SR_VARIADIC_OUTSIDE, "ERR Encountered a variable size list of tensors outside of "    \
                                  "input section")                                                 \
    X(AI_ERR_SR_VARIADIC_TWICE, "ERR Already encountered a variable size list of tensors")         \
    X(AI_ERR_SR_UNRECOGNIZED, "ERR Unrecongnized parameter to SCRIPTRUN")                          \
    /* Redis calls from a running script: the call error wraps the other texts */                  \
    X(AI_ERR_SCRIPT_CALL, "Redis command returned an error: %s")                                   \
    X(AI_ERR_NOPERM_KEYS, "NOPERM this user has no permissions to access one of the keys used "    \
                          "as arguments")                                                          \
    X(AI_ERR_NOPERM_COMMAND, "NOPERM this user has no permissions to run the '%s' command")        \
    X(AI_ERR_NOPERM_USER, "NOPERM the user '%s' no longer exists")                                 \
    /* DAGs */                                                                                     \
    X(AI_ERR_DAG_LOAD_MISSING, "ERR missing arguments after LOAD keyword in DAG command")          \
    X(AI_ERR_DAG_LOAD_COUNT, "ERR invalid or negative value found in number of keys to LOAD")      \
    X(AI_ERR_DAG_LOAD_ARGS, "ERR number of keys to LOAD into DAG does not match the number of "    \
                            "given arguments")                                                     \
    X(AI_ERR_DAG_PERSIST_RO, "ERR PERSIST cannot be specified in a read-only DAG")                 \
    X(AI_ERR_DAG_PERSIST_MISSING, "ERR missing arguments after PERSIST keyword in DAG command")    \
    X(AI_ERR_DAG_PERSIST_COUNT, "ERR invalid or negative value found in number of keys to "        \
                                "PERSIST")                                                         \
    X(AI_ERR_DAG_PERSIST_UNIQUE, "ERR PERSIST keys must be unique")                                \
    X(AI_ERR_DAG_PERSIST_ARGS, "ERR number of keys to PERSIST after DAG execution does not match " \
                               "the number of given arguments")                                    \
    X(AI_ERR_DAG_ROUTING_MISSING, "ERR Missing ROUTING value")                                     \
    X(AI_ERR_DAG_UNEXPECTED, "ERR Invalid DAG command. Unexpected argument:  %s")                  \
    X(AI_ERR_DAG_NEEDS_KEYWORD, "ERR AI.DAGEXECUTE and AI.DAGEXECUTE_RO commands must contain at " \
                                "least one out of ROUTING, LOAD, PERSIST keywords")                \
    X(AI_ERR_DAG_EMPTY, "ERR DAG is empty")                                                        \
    X(AI_ERR_DAG_UNSUPPORTED, "Unsupported command within DAG")                                    \
    X(AI_ERR_DAG_SCRIPT_RO, "ERR AI.SCRIPTEXECUTE command cannot be specified in a read-only DAG") \
    X(AI_ERR_DAG_DEPRECATED_OP, "Deprecated %s cannot be used in AI.DAGEXECUTE command")           \
    X(AI_ERR_DAG_NEW_OP_IN_OLD, "%s cannot be used in a deprecated AI.DAGRUN command")             \
    X(AI_ERR_DAG_TIMEOUT_IN_OP, "ERR TIMEOUT not allowed within a DAG command")                    \
    X(AI_ERR_DAG_OP_ARITY, "wrong number of arguments for '%s' command")                           \
    X(AI_ERR_DAG_INPUT_UNKNOWN, "ERR INPUT key cannot be found in DAG")                            \
    X(AI_ERR_DAG_PERSIST_UNKNOWN, "ERR PERSIST key cannot be found in DAG")                        \
    X(AI_ERR_DAG_ASYNC_FULL, "ERR too many asynchronous DAGs")                                     \
    X(AI_ERR_DAG_UNKNOWN_ID, "ERR unknown DAG id")                                                 \
    X(AI_ERR_SYNTAX, "ERR syntax error")                                                           \
    X(AI_ERR_CONFIG_VALUE_MISSING, "ERR %s: missing value")                                        \
    X(AI_ERR_CONFIG_VALUE_INVALID, "ERR %s: invalid value")                                        \
    X(AI_ERR_DAG_MISSING_ARGS, "ERR missing arguments for '%s' command")                           \
    /* Streams and triggers (roadmap R2) */                                                        \
    X(AI_ERR_STREAM_NOT_TENSOR, "ERR stream entry is not a tensor")                                \
    X(AI_ERR_TRIGGER_EMPTY, "ERR trigger key is empty")
