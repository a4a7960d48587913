"""The error texts the flow tests expect, each defined once: as redis-py gives them, that is
without the ERR prefix RedisAI puts before most of them (err() adds it back, for replies read
on a RawConnection). Texts are RedisAI's, typos included (marked sic)."""


def err(text):
    """text as it travels when RedisAI sends it with the ERR prefix."""
    return "ERR " + text


# Any command
ARITY = "wrong number of arguments for '%s' command"
INPUTS_MISMATCH = "Number of keys given as INPUTS here does not match model definition"
MISSING_FUNCTION = "Function does not exist: %s"
MODEL_EMPTY = "model key is empty"
OUTPUTS_MISMATCH = "Number of keys given as OUTPUTS here does not match model definition"
SCRIPT_EMPTY = "script key is empty"
TENSOR_EMPTY = "tensor key is empty or in a different shard"
TFLITE_BATCHING = "Auto-batching not supported by the TFLITE backend"
TIMEOUT_INVALID = "Invalid value for TIMEOUT"
TIMEOUT_MISSING = "No value provided for TIMEOUT"
TORCH_GPU = "GPU requested but Torch couldn't find CUDA"
TRANSACTION = "Cannot run RedisAI command within a transaction or a LUA script"
UNSUPPORTED_DEVICE = "unsupported device"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"

# Tensors
BAD_DATA_FORMAT = "Bad data format"  # Redis' RESTORE of a payload the module refuses
BLOB_AND_VALUES = "both BLOB and VALUES specified"
BLOB_ARITY = "a single binary string should come after the BLOB argument in 'AI.TENSORSET' command"
BOOL_BLOB = "BOOL tensor elements must be 0 or 1"
CSTRING = "C-string value contains null character"
DATA_LENGTH = "data length does not match tensor shape and type"
INVALID_DTYPE = "invalid data type"
INVALID_VALUE = "invalid value"
STRING_BLOB = "Number of string elements in data blob does not match tensor length"
TENSOR_FORMAT = "unsupported data format"
TENSOR_SHAPE = "invalid or negative value found in tensor shape"
TENSOR_TOO_LARGE = "tensor is too large"
VALUES_COUNT = "wrong number of values was given in 'AI.TENSORSET' command"

# Models and their backends
NO_GRAPH = "No graph was found in the protobuf."
TF_GPU = "GPU requested but TF couldn't find CUDA"
TF_INVALID_GRAPH = "Invalid GraphDef"
TF_NO_INPUT_NODE = 'Input node named "%s" not found in TF graph.'
TF_NO_OUTPUT_NODE = 'Output node named "%s" not found in TF graph'  # no full stop (sic)
BATCHSIZE = "Invalid argument for BATCHSIZE"
BATCH_SIZE_ERROR = "Model did not generate the expected batch size"
EXEC_INPUT_ARGS = (
    "number of input keys to AI.MODELEXECUTE command does not match the number of given arguments"
)
EXEC_OUTPUT_ARGS = (
    "number of output keys to AI.MODELEXECUTE command does not match the number of given arguments"
)
EXPECTED_BLOB = "Invalid argument, expected BLOB"
EXTERNAL = "Initializer tensors with external data is not allowed."
INPUT_COUNT = "Invalid argument for input_count"
INPUT_POSITIVE = "Input count must be a positive integer"
INVALID_DEVICE = "Invalid DEVICE"
MINBATCHSIZE = "Invalid argument for MINBATCHSIZE"
MINBATCHTIMEOUT = "Invalid argument for MINBATCHTIMEOUT"
MINBATCH_NO_BATCH = "MINBATCHSIZE specified without BATCHSIZE"
MINTIMEOUT_NO_BATCH = "MINBATCHTIMEOUT specified without BATCHSIZE"
MINTIMEOUT_NO_MINBATCH = "MINBATCHTIMEOUT specified without MINBATCHSIZE"
MISSING_BLOB = "Insufficient arguments, missing model BLOB"
NOT_FOR_BACKEND = "INPUTS argument should not be specified for this backend"
NO_INPUTS = "INPUTS not specified"
NO_OUTPUTS = "OUTPUTS not specified"
ONNX_GPU = "GPU requested but ONNX couldn't find CUDA"
OUTPUT_COUNT = "Invalid argument for output_count"
OUTPUT_POSITIVE = "Output count must be a positive integer"
TFLITE_DTYPE = "Input tensor type doesn't match the type expected by the model definition"
TF_INCOMPATIBLE = "Incompatible shapes: [2] vs. [2,2,3] \t [[{{node mul}}]]"
TF_INPUTS_ARGS = "number of model inputs does not match the number of given arguments"
TF_NO_INPUTS = "INPUTS not specified for TF"
TF_NO_IO = "Insufficient arguments, INPUTS and OUTPUTS not specified"
TF_NO_OUTPUTS = "OUTPUTS not specified for TF"
TF_OUTPUTS_ARGS = "number of model outputs does not match the number of given arguments"
UNSUPPORTED_BACKEND = "unsupported backend"

# Scripts
AFTER_TIMEOUT = "Encountered problem parsing AI.SCRIPTEXECUTE"
ARGS_ARGS = (
    "number of args to AI.SCRIPTEXECUTE command does not match the number of given arguments"
)
ARGS_COUNT = "Invalid argument for keys count in AI.SCRIPTEXECUTE"  # sic: "keys"
CALL_ERROR = "Redis command returned an error: "
ENTRY_POINTS_NUMBER = "Non numeric entry points number provided to AI.SCRIPTSTORE command"
INPUTS_ARGS = (
    "number of inputs to AI.SCRIPTEXECUTE command does not match the number of given arguments"
)
INPUTS_COUNT = "Invalid argument for inputs count in AI.SCRIPTEXECUTE"
INVALID_ARGS = "Invalid arguments provided to AI.SCRIPTEXECUTE"
KEYS_ARGS = (
    "Number of pre declared KEYS to be used in the command does not match the number of "
    "given arguments"
)
KEYS_COUNT = "Invalid or negative value found in number of KEYS"
KEYS_MISSING = "Missing arguments after KEYS keyword"
LEGACY_UNSUPPORTED_TYPE = "Unsupported input type in function definition: %s"
LEGACY_WRONG_INPUTS = "Wrong number of inputs provided to function: %s"
MISSING_ENTRY_POINTS = "Insufficient arguments, missing script entry points"
MISSING_SOURCE = "Insufficient arguments, missing script SOURCE"
NON_TENSOR = "Function returned non-tensor values%s"  # sic, no space
NO_FUNCTION = "Function %s does not exist in the given script."
OUTPUTS_ARGS = (
    "number of outputs to AI.SCRIPTEXECUTE command does not match the number of given arguments"
)
OUTPUTS_COUNT = "Invalid argument for outputs count in AI.SCRIPTEXECUTE"
OUTPUT_NUMBER = "Function returned unexpected number of outputs - %s"
PARAM_COUNT = "Wrong number of inputs in function %s. Expected 3 but was %d"
PARAM_TYPES = (  # str.format: {0} is the function's name
    "Wrong inputs type in function {0}. Expected signature similar to: "
    "def {0}(tensors: List[Tensor], keys: List[str], args: List[str])"
)
SCOPE_FIRST = "KEYS or INPUTS scope must be provided first for AI.SCRIPTEXECUTE command"
SCOPE_TWICE = "Already Encountered %s scope in AI.SCRIPTEXECUTE command"
SCRIPT_TIMEOUT_MISSING = "No value provided for TIMEOUT in AI.SCRIPTEXECUTE"
SCRIPT_UNEXPECTED = "Invalid AI.SCRIPTEXECUTE command. Unexpected argument: %s"
SR_INPUTS_KEYWORD = "Already encountered an INPUTS keyword in SCRIPTRUN"
SR_INPUTS_SECTION = "Already encountered an INPUTS section in SCRIPTRUN"
SR_OUTPUTS_KEYWORD = "Already encountered an OUTPUTS keyword in SCRIPTRUN"
SR_TIMEOUT_TWICE = "Already encountered an TIMEOUT section in SCRIPTRUN"
SR_UNRECOGNIZED = "Unrecongnized parameter to SCRIPTRUN"  # sic
SR_VARIADIC_OUTSIDE = "Encountered a variable size list of tensors outside of input section"
SR_VARIADIC_TWICE = "Already encountered a variable size list of tensors"

# DAGs
DAG_EMPTY = "DAG is empty"
DAG_UNEXPECTED = "Invalid DAG command. Unexpected argument:  %s"  # two spaces (sic)
DAG_UNSUPPORTED = "Unsupported command within DAG"  # no ERR
DEPRECATED_OP = "Deprecated %s cannot be used in AI.DAGEXECUTE command"  # no ERR
INPUT_UNKNOWN = "INPUT key cannot be found in DAG"
LOAD_ARGS = "number of keys to LOAD into DAG does not match the number of given arguments"
LOAD_COUNT = "invalid or negative value found in number of keys to LOAD"
LOAD_MISSING = "missing arguments after LOAD keyword in DAG command"
MISSING_ARGS = "missing arguments for '%s' command"
NEEDS_KEYWORD = (
    "AI.DAGEXECUTE and AI.DAGEXECUTE_RO commands must contain at least one out of ROUTING, "
    "LOAD, PERSIST keywords"
)
NEW_OP_IN_OLD = "%s cannot be used in a deprecated AI.DAGRUN command"  # no ERR
PERSIST_ARGS = (
    "number of keys to PERSIST after DAG execution does not match the number of given arguments"
)
PERSIST_COUNT = "invalid or negative value found in number of keys to PERSIST"
PERSIST_MISSING = "missing arguments after PERSIST keyword in DAG command"
PERSIST_RO = "PERSIST cannot be specified in a read-only DAG"
PERSIST_UNIQUE = "PERSIST keys must be unique"
PERSIST_UNKNOWN = "PERSIST key cannot be found in DAG"
ROUTING_MISSING = "Missing ROUTING value"
SCRIPT_RO = "AI.SCRIPTEXECUTE command cannot be specified in a read-only DAG"
TIMEOUT_IN_OP = "TIMEOUT not allowed within a DAG command"

# Asynchronous DAGs (roadmap R1)
DAG_ASYNC_FULL = "too many asynchronous DAGs"
DAG_CONFIG_INVALID = "%s: invalid value"  # DAG_RESULT_TTL, DAG_ASYNC_MAX
DAG_CONFIG_MISSING = "%s: missing value"
DAG_UNKNOWN_ID = "unknown DAG id"
SYNTAX = "syntax error"

# Run statistics and configuration
LOAD_BACKEND = "error loading backend"
NO_RUN_INFO = "cannot find run info for key"
TENSOR_MAX_INVALID = "TENSOR_MAX_BYTES: invalid size"
TENSOR_MAX_MISSING = "TENSOR_MAX_BYTES: missing size"

# What a model or script may not do (roadmap R5)
MODEL_FORBIDDEN = "model uses a forbidden operator: %s"
SCRIPT_FORBIDDEN = "script uses a forbidden operator: %s"

# Redis itself
BUSYKEY = "BUSYKEY Target key name already exists."
MODULE_KEY_COPY = "not supported for this module key"
NOPERM_COMMAND = "NOPERM this user has no permissions to run the '%s' command"
NOPERM_KEYS = "NOPERM this user has no permissions to access one of the keys used as arguments"
OOM = "command not allowed when used memory > 'maxmemory'."
READONLY = "You can't write against a read only replica."
CROSSSLOT = "Keys in request don't hash to the same slot"  # as redis-py's cluster error says

# Streams and triggers (roadmap R2)
STREAM_NOT_TENSOR = "stream entry is not a tensor"
TRIGGER_EMPTY = "trigger key is empty"
STREAM_MAXLEN_MISSING = "STREAM_MAXLEN: missing value"
STREAM_MAXLEN_INVALID = "STREAM_MAXLEN: invalid value"
