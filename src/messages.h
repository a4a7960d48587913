/* The spec's error texts for models and runs, each defined once (tensor texts live in
 * the table of errors.c). Texts without an ERR prefix are RedisAI's and are kept so. */
#pragma once

#define AI_MSG_UNSUPPORTED_BACKEND "ERR unsupported backend"
#define AI_MSG_INVALID_DEVICE "ERR Invalid DEVICE"
#define AI_MSG_UNSUPPORTED_DEVICE "ERR unsupported device"
#define AI_MSG_BATCHSIZE "ERR Invalid argument for BATCHSIZE"
#define AI_MSG_MINBATCHSIZE "ERR Invalid argument for MINBATCHSIZE"
#define AI_MSG_MINBATCHTIMEOUT "ERR Invalid argument for MINBATCHTIMEOUT"
#define AI_MSG_MINBATCH_NO_BATCH "ERR MINBATCHSIZE specified without BATCHSIZE"
#define AI_MSG_MINTIMEOUT_NO_BATCH "ERR MINBATCHTIMEOUT specified without BATCHSIZE"
#define AI_MSG_MINTIMEOUT_NO_MINBATCH "ERR MINBATCHTIMEOUT specified without MINBATCHSIZE"
#define AI_MSG_TFLITE_BATCHING "ERR Auto-batching not supported by the TFLITE backend"
#define AI_MSG_MISSING_BLOB "ERR Insufficient arguments, missing model BLOB"
#define AI_MSG_EXPECTED_BLOB "ERR Invalid argument, expected BLOB"
#define AI_MSG_TF_NO_INPUTS "ERR INPUTS not specified for TF"
#define AI_MSG_TF_NO_OUTPUTS "ERR OUTPUTS not specified for TF"
#define AI_MSG_TF_NO_IO "ERR Insufficient arguments, INPUTS and OUTPUTS not specified"
#define AI_MSG_INPUT_COUNT "ERR Invalid argument for input_count"
#define AI_MSG_OUTPUT_COUNT "ERR Invalid argument for output_count"
#define AI_MSG_TF_INPUTS_ARGS "ERR number of model inputs does not match the number of given arguments"
#define AI_MSG_TF_OUTPUTS_ARGS \
    "ERR number of model outputs does not match the number of given arguments"
#define AI_MSG_INPUTS_NOT_FOR_BACKEND "ERR INPUTS argument should not be specified for this backend"
#define AI_MSG_MODEL_EMPTY "ERR model key is empty"
#define AI_MSG_NO_INPUTS "ERR INPUTS not specified"
#define AI_MSG_NO_OUTPUTS "ERR OUTPUTS not specified"
#define AI_MSG_INPUT_COUNT_POSITIVE "ERR Input count must be a positive integer"
#define AI_MSG_OUTPUT_COUNT_POSITIVE "ERR Output count must be a positive integer"
#define AI_MSG_INPUTS_MISMATCH "Number of keys given as INPUTS here does not match model definition"
#define AI_MSG_OUTPUTS_MISMATCH \
    "Number of keys given as OUTPUTS here does not match model definition"
#define AI_MSG_EXEC_INPUT_ARGS \
    "ERR number of input keys to AI.MODELEXECUTE command does not match the number of given arguments"
#define AI_MSG_EXEC_OUTPUT_ARGS \
    "ERR number of output keys to AI.MODELEXECUTE command does not match the number of given arguments"
#define AI_MSG_TIMEOUT_MISSING "ERR No value provided for TIMEOUT"
#define AI_MSG_TIMEOUT_INVALID "ERR Invalid value for TIMEOUT"
#define AI_MSG_INVALID_ARGUMENT "Invalid argument: " /* followed by the token */
#define AI_MSG_IN_TRANSACTION "ERR Cannot run RedisAI command within a transaction or a LUA script"
#define AI_MSG_NO_QUEUE "ERR cannot start the device's worker threads"
#define AI_MSG_NO_RUN_INFO "ERR cannot find run info for key"
#define AI_MSG_UNSUPPORTED_SUBCOMMAND "ERR unsupported subcommand"
#define AI_MSG_LOADING_BACKEND "ERR error loading backend"
#define AI_MSG_BACKENDSPATH_MISSING "ERR BACKENDSPATH: missing path argument"
#define AI_MSG_CHUNK_MISSING "ERR MODEL_CHUNK_SIZE: missing chunk size"
#define AI_MSG_CHUNK_INVALID "ERR MODEL_CHUNK_SIZE: invalid chunk size"
