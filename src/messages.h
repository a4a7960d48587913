/* The spec's error texts for models and runs, each defined once (tensor texts live in
 * the table of errors.c). Texts without an ERR prefix are RedisAI's and are kept so. */
#pragma once

#define AI_MSG_UNSUPPORTED_BACKEND    "ERR unsupported backend"
#define AI_MSG_INVALID_DEVICE         "ERR Invalid DEVICE"
#define AI_MSG_UNSUPPORTED_DEVICE     "ERR unsupported device"
#define AI_MSG_BATCHSIZE              "ERR Invalid argument for BATCHSIZE"
#define AI_MSG_MINBATCHSIZE           "ERR Invalid argument for MINBATCHSIZE"
#define AI_MSG_MINBATCHTIMEOUT        "ERR Invalid argument for MINBATCHTIMEOUT"
#define AI_MSG_MINBATCH_NO_BATCH      "ERR MINBATCHSIZE specified without BATCHSIZE"
#define AI_MSG_MINTIMEOUT_NO_BATCH    "ERR MINBATCHTIMEOUT specified without BATCHSIZE"
#define AI_MSG_MINTIMEOUT_NO_MINBATCH "ERR MINBATCHTIMEOUT specified without MINBATCHSIZE"
#define AI_MSG_TFLITE_BATCHING        "ERR Auto-batching not supported by the TFLITE backend"
#define AI_MSG_MISSING_BLOB           "ERR Insufficient arguments, missing model BLOB"
#define AI_MSG_EXPECTED_BLOB          "ERR Invalid argument, expected BLOB"
#define AI_MSG_TF_NO_INPUTS           "ERR INPUTS not specified for TF"
#define AI_MSG_TF_NO_OUTPUTS          "ERR OUTPUTS not specified for TF"
#define AI_MSG_TF_NO_IO               "ERR Insufficient arguments, INPUTS and OUTPUTS not specified"
#define AI_MSG_INPUT_COUNT            "ERR Invalid argument for input_count"
#define AI_MSG_OUTPUT_COUNT           "ERR Invalid argument for output_count"
#define AI_MSG_TF_INPUTS_ARGS                                                                      \
    "ERR number of model inputs does not match the number of given arguments"
#define AI_MSG_TF_OUTPUTS_ARGS                                                                     \
    "ERR number of model outputs does not match the number of given arguments"
#define AI_MSG_INPUTS_NOT_FOR_BACKEND "ERR INPUTS argument should not be specified for this backend"
#define AI_MSG_MODEL_EMPTY            "ERR model key is empty"
#define AI_MSG_NO_INPUTS              "ERR INPUTS not specified"
#define AI_MSG_NO_OUTPUTS             "ERR OUTPUTS not specified"
#define AI_MSG_INPUT_COUNT_POSITIVE   "ERR Input count must be a positive integer"
#define AI_MSG_OUTPUT_COUNT_POSITIVE  "ERR Output count must be a positive integer"
#define AI_MSG_INPUTS_MISMATCH        "Number of keys given as INPUTS here does not match model definition"
#define AI_MSG_OUTPUTS_MISMATCH                                                                    \
    "Number of keys given as OUTPUTS here does not match model definition"
#define AI_MSG_EXEC_INPUT_ARGS                                                                     \
    "ERR number of input keys to AI.MODELEXECUTE command does not match the number of given "      \
    "arguments"
#define AI_MSG_EXEC_OUTPUT_ARGS                                                                    \
    "ERR number of output keys to AI.MODELEXECUTE command does not match the number of given "     \
    "arguments"
#define AI_MSG_TIMEOUT_MISSING        "ERR No value provided for TIMEOUT"
#define AI_MSG_TIMEOUT_INVALID        "ERR Invalid value for TIMEOUT"
#define AI_MSG_INVALID_ARGUMENT       "Invalid argument: " /* followed by the token */
#define AI_MSG_IN_TRANSACTION         "ERR Cannot run RedisAI command within a transaction or a LUA script"
#define AI_MSG_NO_QUEUE               "ERR cannot start the device's worker threads"
#define AI_MSG_NO_RUN_INFO            "ERR cannot find run info for key"
#define AI_MSG_UNSUPPORTED_SUBCOMMAND "ERR unsupported subcommand"
#define AI_MSG_LOADING_BACKEND        "ERR error loading backend"
#define AI_MSG_BACKENDSPATH_MISSING   "ERR BACKENDSPATH: missing path argument"
#define AI_MSG_CHUNK_MISSING          "ERR MODEL_CHUNK_SIZE: missing chunk size"
#define AI_MSG_CHUNK_INVALID          "ERR MODEL_CHUNK_SIZE: invalid chunk size"
#define AI_MSG_SCRIPT_EMPTY           "ERR script key is empty"
#define AI_MSG_MISSING_ENTRY_POINTS   "ERR Insufficient arguments, missing script entry points"
#define AI_MSG_ENTRY_POINTS_NUMBER                                                                 \
    "ERR Non numeric entry points number provided to AI.SCRIPTSTORE command"
#define AI_MSG_MISSING_SOURCE "ERR Insufficient arguments, missing script SOURCE"
#define AI_MSG_SE_SCOPE_FIRST                                                                      \
    "ERR KEYS or INPUTS scope must be provided first for AI.SCRIPTEXECUTE command"
#define AI_MSG_SE_KEYS_MISSING "ERR Missing arguments after KEYS keyword"
#define AI_MSG_SE_KEYS_COUNT   "ERR Invalid or negative value found in number of KEYS"
#define AI_MSG_SE_KEYS_ARGS                                                                        \
    "ERR Number of pre declared KEYS to be used in the command does not match the number of "      \
    "given arguments"
#define AI_MSG_SE_INVALID_ARGS "ERR Invalid arguments provided to AI.SCRIPTEXECUTE"
#define AI_MSG_SE_INPUTS_COUNT "ERR Invalid argument for inputs count in AI.SCRIPTEXECUTE"
#define AI_MSG_SE_INPUTS_ARGS                                                                      \
    "ERR number of inputs to AI.SCRIPTEXECUTE command does not match the number of given "         \
    "arguments"
#define AI_MSG_SE_ARGS_COUNT "ERR Invalid argument for keys count in AI.SCRIPTEXECUTE"
#define AI_MSG_SE_ARGS_ARGS                                                                        \
    "ERR number of args to AI.SCRIPTEXECUTE command does not match the number of given arguments"
#define AI_MSG_SE_OUTPUTS_COUNT "ERR Invalid argument for outputs count in AI.SCRIPTEXECUTE"
#define AI_MSG_SE_OUTPUTS_ARGS                                                                     \
    "ERR number of outputs to AI.SCRIPTEXECUTE command does not match the number of given "        \
    "arguments"
#define AI_MSG_SE_ALREADY         "ERR Already Encountered %s scope in AI.SCRIPTEXECUTE command"
#define AI_MSG_SE_TIMEOUT_MISSING "ERR No value provided for TIMEOUT in AI.SCRIPTEXECUTE"
#define AI_MSG_SE_AFTER_TIMEOUT   "ERR Encountered problem parsing AI.SCRIPTEXECUTE"
#define AI_MSG_SE_UNEXPECTED      "ERR Invalid AI.SCRIPTEXECUTE command. Unexpected argument: %s"
#define AI_MSG_SR_TIMEOUT_TWICE   "ERR Already encountered an TIMEOUT section in SCRIPTRUN"
#define AI_MSG_SR_INPUTS_KEYWORD  "ERR Already encountered an INPUTS keyword in SCRIPTRUN"
#define AI_MSG_SR_INPUTS_SECTION  "ERR Already encountered an INPUTS section in SCRIPTRUN"
#define AI_MSG_SR_OUTPUTS_KEYWORD "ERR Already encountered an OUTPUTS keyword in SCRIPTRUN"
#define AI_MSG_SR_VARIADIC_OUTSIDE                                                                 \
    "ERR Encountered a variable size list of tensors outside of input section"
#define AI_MSG_SR_VARIADIC_TWICE "ERR Already encountered a variable size list of tensors"
#define AI_MSG_SR_UNRECOGNIZED   "ERR Unrecongnized parameter to SCRIPTRUN"
#define AI_MSG_DAG_LOAD_MISSING  "ERR missing arguments after LOAD keyword in DAG command"
#define AI_MSG_DAG_LOAD_COUNT    "ERR invalid or negative value found in number of keys to LOAD"
#define AI_MSG_DAG_LOAD_ARGS                                                                       \
    "ERR number of keys to LOAD into DAG does not match the number of given arguments"
#define AI_MSG_DAG_PERSIST_RO      "ERR PERSIST cannot be specified in a read-only DAG"
#define AI_MSG_DAG_PERSIST_MISSING "ERR missing arguments after PERSIST keyword in DAG command"
#define AI_MSG_DAG_PERSIST_COUNT   "ERR invalid or negative value found in number of keys to PERSIST"
#define AI_MSG_DAG_PERSIST_UNIQUE  "ERR PERSIST keys must be unique"
#define AI_MSG_DAG_PERSIST_ARGS                                                                    \
    "ERR number of keys to PERSIST after DAG execution does not match the number of given "        \
    "arguments"
#define AI_MSG_DAG_ROUTING_MISSING "ERR Missing ROUTING value"
#define AI_MSG_DAG_UNEXPECTED      "ERR Invalid DAG command. Unexpected argument:  %s"
#define AI_MSG_DAG_NEEDS_KEYWORD                                                                   \
    "ERR AI.DAGEXECUTE and AI.DAGEXECUTE_RO commands must contain at least one out of ROUTING, "   \
    "LOAD, PERSIST keywords"
#define AI_MSG_DAG_EMPTY           "ERR DAG is empty"
#define AI_MSG_DAG_UNSUPPORTED     "Unsupported command within DAG"
#define AI_MSG_DAG_SCRIPT_RO       "ERR AI.SCRIPTEXECUTE command cannot be specified in a read-only DAG"
#define AI_MSG_DAG_DEPRECATED_OP   "Deprecated %s cannot be used in AI.DAGEXECUTE command"
#define AI_MSG_DAG_NEW_OP_IN_OLD   "%s cannot be used in a deprecated AI.DAGRUN command"
#define AI_MSG_DAG_TIMEOUT_IN_OP   "ERR TIMEOUT not allowed within a DAG command"
#define AI_MSG_DAG_OP_ARITY        "wrong number of arguments for '%s' command"
#define AI_MSG_DAG_INPUT_UNKNOWN   "ERR INPUT key cannot be found in DAG"
#define AI_MSG_DAG_PERSIST_UNKNOWN "ERR PERSIST key cannot be found in DAG"
#define AI_MSG_DAG_MISSING_ARGS    "ERR missing arguments for '%s' command"
