// Native runs of TORCH models and TorchScript script functions (src/native_runner.h).
//
// backends/torch.py and backends/torch_script.py load and check a model or script in
// Python, then ask this extension for a capsule holding a runner over the same
// torch::jit object. Workers call the runner with no GIL held: inputs are borrowed as
// tensors over the C memory (no copy), forward runs under InferenceMode with the
// configured intra-op thread count, and each output is handed back through at::toDLPack
// (the caller copies it once, then calls its deleter).
//
// Error texts are the Python path's: the framework's message on one line, and the same
// fixed texts for a wrong output kind or count. Calls whose error text only the Python
// path knows (inputs that do not fit a legacy script function) are declined instead.

#include <torch/extension.h>

#include <ATen/DLConvertor.h>
#include <torch/csrc/jit/python/module_python.h>

#include <atomic>
#include <cstring>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "native_runner.h"

namespace {

// INTRA_OP_PARALLELISM, applied on each worker thread before its first run and after a
// change (at::set_num_threads sets the calling thread's OpenMP count).
std::atomic<int> wanted_threads{1};
thread_local int applied_threads = 0;

void apply_threads() {
    int want = wanted_threads.load(std::memory_order_relaxed);
    if (applied_threads != want) {
        at::set_num_threads(want);
        applied_threads = want;
    }
}

void set_error(const std::string &text, char *err, size_t errlen) {
    if (!errlen) return;
    size_t n = std::min(text.size(), errlen - 1);
    for (size_t i = 0; i < n; i++) err[i] = text[i] == '\n' || text[i] == '\r' ? ' ' : text[i];
    err[n] = '\0';
}

std::string message_of(const std::exception &e) {
    if (auto *c10_error = dynamic_cast<const c10::Error *>(&e))
        return c10_error->what_without_backtrace();
    return e.what();
}

std::string strip(std::string s) {
    const char *space = " \t\n\r\f\v";
    size_t begin = s.find_first_not_of(space);
    if (begin == std::string::npos) return "";
    return s.substr(begin, s.find_last_not_of(space) - begin + 1);
}

at::Tensor borrow(const DLTensor *t) {
    auto options = at::TensorOptions().dtype(at::toScalarType(t->dtype)).device(at::kCPU);
    return at::from_blob(static_cast<char *>(t->data) + t->byte_offset,
                         at::IntArrayRef(t->shape, static_cast<size_t>(t->ndim)), options);
}

// The tensors a call returned, or false when it returned something else.
bool flatten(const c10::IValue &value, std::vector<at::Tensor> &out) {
    if (value.isTensor()) {
        out.push_back(value.toTensor());
        return true;
    }
    if (value.isTuple()) {
        for (const auto &v : value.toTupleRef().elements()) {
            if (!v.isTensor()) return false;
            out.push_back(v.toTensor());
        }
        return true;
    }
    if (value.isList()) {
        for (const auto &v : value.toListRef()) {
            if (!v.isTensor()) return false;
            out.push_back(v.toTensor());
        }
        return true;
    }
    return false;
}

void hand_out(std::vector<at::Tensor> &tensors, DLManagedTensor **outputs) {
    std::vector<at::Tensor> ready;
    ready.reserve(tensors.size());
    for (auto &t : tensors) ready.push_back((t.is_cpu() ? t : t.cpu()).contiguous());
    for (size_t i = 0; i < ready.size(); i++) outputs[i] = at::toDLPack(ready[i]);
}

// --- models ------------------------------------------------------------------------------

// forward is called as its Function with the module first on the stack, as
// Method::operator() does, without building a Module handle and a profiling record per run.
// Every parameter is a tensor (backends/torch.py checked), so a call with one input per
// parameter fits the schema; only other counts go through torch's check, for its text.
struct ModelRunner {
    AINativeRunner runner;
    torch::jit::Module module;
    torch::jit::Function &forward;
    size_t nparams; // self included
    ModelRunner(torch::jit::Module m)
        : runner{}, module(std::move(m)), forward(module.get_method("forward").function()),
          nparams(forward.getSchema().arguments().size()) {}
};

// The Python path's text for too many inputs (a Python call of forward checks its
// arguments itself, in other words than checkAndNormalizeInputs).
std::string too_many_inputs(const c10::FunctionSchema &schema, size_t given) {
    std::ostringstream text;
    text << schema.name() << "() expected at most " << schema.arguments().size()
         << " argument(s) but received " << given << " argument(s). Declaration: " << schema;
    return text.str();
}

int model_run(void *ctx, const DLTensor *const *inputs, int ninputs, DLManagedTensor **outputs,
              int noutputs, char *err, size_t errlen) {
    auto *self = static_cast<ModelRunner *>(ctx);
    try {
        apply_threads();
        c10::InferenceMode guard;
        std::vector<c10::IValue> stack;
        stack.reserve(ninputs + 1);
        stack.emplace_back(self->module._ivalue());
        for (int i = 0; i < ninputs; i++) stack.emplace_back(borrow(inputs[i]));
        const c10::FunctionSchema &schema = self->forward.getSchema();
        if (stack.size() > self->nparams) {
            set_error(too_many_inputs(schema, stack.size()), err, errlen);
            return -1;
        }
        if (stack.size() < self->nparams)
            schema.checkAndNormalizeInputs(stack, torch::jit::Kwargs());
        self->forward.run(stack);
        c10::IValue result = std::move(stack.front());
        std::vector<at::Tensor> tensors;
        if (!flatten(result, tensors)) {
            set_error("Function returned non-tensor values - forward", err, errlen);
            return -1;
        }
        if (static_cast<int>(tensors.size()) != noutputs) {
            set_error("Function returned unexpected number of outputs - forward", err, errlen);
            return -1;
        }
        hand_out(tensors, outputs);
        return 0;
    } catch (const std::exception &e) {
        set_error(message_of(e), err, errlen);
        return -1;
    }
}

void destroy_model_runner(PyObject *capsule) {
    delete static_cast<ModelRunner *>(
        PyCapsule_GetContext(capsule)); // the runner is the first member of ModelRunner
}

// A runner over a loaded ScriptModule's forward (whose inputs backends/torch.py checked to
// be tensors, so that every error text on the way in is torch's own).
py::object make_runner(py::handle script_module) {
    auto module = torch::jit::as_module(script_module);
    if (!module) throw std::invalid_argument("not a ScriptModule");
    auto *self = new ModelRunner(*module);
    self->runner = AINativeRunner{AI_NATIVE_RUNNER_ABI, self, model_run};
    PyObject *capsule =
        PyCapsule_New(&self->runner, AI_NATIVE_RUNNER_CAPSULE, destroy_model_runner);
    if (!capsule || PyCapsule_SetContext(capsule, self) != 0) {
        Py_XDECREF(capsule);
        delete self;
        throw py::error_already_set();
    }
    return py::reinterpret_steal<py::object>(capsule);
}

// --- scripts -----------------------------------------------------------------------------

// A function called natively. An entry point's parameters were checked at store time to be
// (List[Tensor], List[str], List[str]), the types of the stack built for it: it runs
// without torch's check of its inputs.
struct ScriptFunction {
    torch::jit::Function *function;
    bool entry_point;
};

struct ScriptRunner {
    AINativeScript script;
    std::shared_ptr<torch::jit::CompilationUnit> cu;
    std::unordered_map<std::string, ScriptFunction> native;

    const ScriptFunction *find(const char *fn) const {
        auto it = native.find(fn);
        return it == native.end() ? nullptr : &it->second;
    }
};

int script_has(void *ctx, const char *fn) {
    return static_cast<ScriptRunner *>(ctx)->find(fn) ? 1 : 0;
}

// RedisAI's mapping of inputs onto a function that is not an entry point; false when they
// do not fit (the Python path then gives the error).
bool legacy_args(const c10::FunctionSchema &schema, std::vector<at::Tensor> &tensors,
                 std::vector<c10::IValue> &stack) {
    const auto &params = schema.arguments();
    if (params.size() > tensors.size()) return false;
    for (size_t i = 0; i < params.size(); i++) {
        const auto &type = params[i].type();
        if (type->kind() == c10::TypeKind::TensorType) {
            stack.emplace_back(tensors[i]);
            continue;
        }
        auto list = type->cast<c10::ListType>();
        if (!list || list->getElementType()->kind() != c10::TypeKind::TensorType) return false;
        stack.emplace_back(c10::List<at::Tensor>(
            std::vector<at::Tensor>(tensors.begin() + static_cast<long>(i), tensors.end())));
        break;
    }
    return true;
}

c10::List<std::string> strings(const char *const *items, int n) {
    c10::List<std::string> list;
    list.reserve(n);
    for (int i = 0; i < n; i++) list.push_back(items[i]);
    return list;
}

int script_call(void *ctx, const char *fn, const DLTensor *const *inputs, int ninputs,
                const char *const *keys, int nkeys, const char *const *args, int nargs,
                DLManagedTensor **outputs, int noutputs, char *err, size_t errlen) {
    const ScriptFunction *call = static_cast<ScriptRunner *>(ctx)->find(fn);
    if (!call) return 1;
    try {
        apply_threads();
        c10::InferenceMode guard;
        std::vector<at::Tensor> tensors;
        tensors.reserve(ninputs);
        for (int i = 0; i < ninputs; i++) tensors.push_back(borrow(inputs[i]));
        std::vector<c10::IValue> stack;
        if (call->entry_point) {
            stack.emplace_back(c10::List<at::Tensor>(tensors));
            stack.emplace_back(strings(keys, nkeys));
            stack.emplace_back(strings(args, nargs));
        } else if (!legacy_args(call->function->getSchema(), tensors, stack)) {
            return 1;
        }
        c10::IValue result;
        try {
            if (call->entry_point) {
                call->function->run(stack);
                result = std::move(stack.front());
            } else {
                result = (*call->function)(std::move(stack));
            }
        } catch (const std::exception &e) {
            set_error(strip(message_of(e)), err, errlen);
            return -1;
        }
        if (noutputs == 0) return 0;
        std::vector<at::Tensor> out;
        if (!flatten(result, out)) {
            set_error(std::string("Function returned non-tensor values") + fn, err, errlen);
            return -1;
        }
        if (static_cast<int>(out.size()) != noutputs) {
            set_error(std::string("Function returned unexpected number of outputs - ") + fn, err,
                      errlen);
            return -1;
        }
        hand_out(out, outputs);
        return 0;
    } catch (const std::exception &e) {
        set_error(message_of(e), err, errlen);
        return -1;
    }
}

void destroy_script_runner(PyObject *capsule) {
    delete static_cast<ScriptRunner *>(PyCapsule_GetContext(capsule));
}

// Native calls of a CompilationUnit's functions: `native` names those called here (the
// others are declined), entry_points those called with (tensors, keys, args). The redis.*
// and redisAI.* ops a function may call are Python kernels: they take the GIL themselves.
py::object make_script_runner(std::shared_ptr<torch::jit::CompilationUnit> cu,
                              const std::vector<std::string> &entry_points,
                              const std::vector<std::string> &native) {
    auto *self = new ScriptRunner{AINativeScript{}, std::move(cu), {}};
    for (const auto &name : native)
        if (auto *function = self->cu->find_function(name))
            self->native[name] = ScriptFunction{function, false};
    for (const auto &name : entry_points) {
        auto it = self->native.find(name);
        if (it != self->native.end()) it->second.entry_point = true;
    }
    self->script = AINativeScript{AI_NATIVE_RUNNER_ABI, self, script_has, script_call};
    PyObject *capsule =
        PyCapsule_New(&self->script, AI_NATIVE_SCRIPT_CAPSULE, destroy_script_runner);
    if (!capsule || PyCapsule_SetContext(capsule, self) != 0) {
        Py_XDECREF(capsule);
        delete self;
        throw py::error_already_set();
    }
    return py::reinterpret_steal<py::object>(capsule);
}

} // namespace

PYBIND11_MODULE(_torch_native, m) {
    m.doc() = "Native runs of TORCH models and scripts for cyrai's workers";
    m.def("make_runner", &make_runner, "A native runner capsule over a ScriptModule's forward");
    m.def("make_script_runner", &make_script_runner,
          "A native call capsule over a CompilationUnit's Redis-free functions");
    m.def(
        "set_intra_op_threads", [](int n) { wanted_threads.store(n > 0 ? n : 1); },
        "The intra-op thread count every worker applies before its next native run");
}
