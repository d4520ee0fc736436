"""Just enough of CuPy for ``Kernel._launch_cupy`` without a GPU: records each kernel it
compiles (``RawModule``, from any thread), each cubin it loads (``cuda.function.Module``) and each
launch. Put it in ``sys.modules["cupy"]`` with monkeypatch."""

import threading


class RecordingCuPy:
    """A CuPy whose device 0 has ``compute_capability`` (a string, as CuPy's); ``refuse_cubins``
    makes loading a cubin raise, as a driver too old for it would."""

    def __init__(self, compute_capability: str, refuse_cubins: bool = False):
        self.compiled, self.loaded, self.calls, self.threads = [], [], [], set()
        recording = self

        def function(name):
            return lambda grid, block, args: recording.calls.append(name)

        class RawModule:
            def __init__(self, code, options):
                recording.compiled.append(code)
                recording.threads.add(threading.current_thread().name)

            def get_function(self, name):
                return function(name)

        class Module:
            def load(self, cubin):
                if refuse_cubins:
                    raise RuntimeError("CUDA_ERROR_UNSUPPORTED_PTX_VERSION")
                recording.loaded.append(cubin)

            def get_function(self, name):
                return function(name)

        class Device:
            def __init__(self, device=0):
                self.compute_capability = compute_capability

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

        self.RawModule = RawModule
        self.cuda = type("cuda", (), {
            "Device": Device, "function": type("function", (), {"Module": Module}),
            "runtime": type("runtime", (), {"getDevice": staticmethod(lambda: 0)})})
