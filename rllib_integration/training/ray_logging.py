"""Ray's console output kept in a log file, so the console shows only the training's lines.

Ray talks on the console through three channels, each sent to the file here:

* its Python loggers (``ray``, ``ray.rllib``, ``ray.tune``, ...: "Started a local Ray
  instance", RLlib's new-API-stack warning, Tune's "Wrote the latest version ..."): their
  console handlers are swapped for one file handler while training runs;
* the stdout/stderr of its workers (the algorithm actor, env runners), which the driver
  reprints with a ``(DQN pid=...)`` prefix: the driver's printer is swapped for one writing
  to the file (through Ray's stream dispatcher; when a Ray version lacks it, the redirect
  below still catches the lines printed while Tune runs);
* plain ``print``s of Tune's console reporter (the "Configuration for experiment" box even at
  ``verbose=0``): ``sys.stdout``/``sys.stderr`` point at the file around ``ray.init`` and
  ``Tuner.fit`` (see :meth:`RayOutput.captured`). Our own lines go to :attr:`RayOutput.console`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

#: The log file's name inside the experiment directory.
LOG_FILE = "ray.log"
#: Ray's name of the driver's worker-output printer (``ray._private.worker``).
_RAY_PRINTER = "ray_print_logs"
_OUR_PRINTER = "rllib_integration_ray_log"


class _Sink(io.TextIOBase):
    """A text stream held in memory until :meth:`attach` names its file.

    Ray talks while it starts, before we know that the experiment directory may be created
    (``--auto`` without a cluster must leave no trace): the early lines wait here.
    """

    def __init__(self) -> None:
        super().__init__()
        self._buffer: io.StringIO | None = io.StringIO()
        self._file: TextIO | None = None

    def attach(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8", buffering=1)
        if self._buffer is not None:
            self._file.write(self._buffer.getvalue())
            self._buffer = None

    def write(self, text: str) -> int:
        target = self._file if self._file is not None else self._buffer
        return target.write(text) if target is not None else len(text)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._buffer = None, None
        super().close()


class RayOutput:
    """Ray's loggers and worker output kept off the console for the time of a ``with`` block.

    Lines are held in memory until :meth:`attach` names the log file (then written there),
    and dropped at the end of the block if it never does.

    Attributes:
        path: the log file once attached, else None.
        console: the stdout of the time the block was entered: where our lines go.
        error_console: the stderr of that time.
    """

    def __init__(self) -> None:
        self.path: Path | None = None
        self.console: TextIO = sys.stdout
        self.error_console: TextIO = sys.stderr
        self._file: _Sink | None = None
        self._handler: logging.Handler | None = None
        self._swapped: dict[str, list[logging.Handler]] = {}  # logger -> its handlers before
        self._printer: Any = None

    def __enter__(self) -> RayOutput:
        self.console, self.error_console = sys.stdout, sys.stderr
        self._file = _Sink()
        handler = logging.StreamHandler(self._file)
        handler.setFormatter(
            logging.Formatter("%(asctime)s\t%(levelname)s %(filename)s:%(lineno)s -- %(message)s")
        )
        self._handler = handler
        self.redirect_loggers()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._restore_printer()
        for name, before in self._swapped.items():
            logger = logging.getLogger(name)
            added = [h for h in logger.handlers if h is not self._handler and h not in before]
            logger.handlers = [*before, *added]  # in their order: the first one prints first
        self._swapped.clear()
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def file(self) -> TextIO:
        """The stream Ray's lines go to (inside the ``with`` block only)."""
        if self._file is None:
            raise RuntimeError("RayOutput is used outside its with block")
        return self._file  # type: ignore[return-value]  # a TextIOBase that writes str

    def attach(self, path: str | Path) -> Path:
        """Write the lines so far, and all later ones, to ``path`` (appended; folder created)."""
        if self._file is None:
            raise RuntimeError("RayOutput is used outside its with block")
        self.path = Path(path)
        self._file.attach(self.path)
        return self.path

    def redirect_loggers(self) -> None:
        """Swap the console handlers of Ray's loggers for the file (again after ``ray.init``).

        Idempotent: loggers already swapped are left alone, ones created since are swapped.
        """
        assert self._handler is not None
        names = ["ray"] + [
            name
            for name, logger in logging.root.manager.loggerDict.items()
            if name.startswith("ray.") and isinstance(logger, logging.Logger) and logger.handlers
        ]
        for name in names:
            logger = logging.getLogger(name)
            self._swapped.setdefault(name, list(logger.handlers))
            console = [h for h in logger.handlers if h is not self._handler and _is_console(h)]
            for handler in console:
                logger.removeHandler(handler)
            # "ray" and loggers that do not propagate to it (``ray.rllib``) get the file.
            wants_file = name == "ray" or (console and not logger.propagate)
            if wants_file and self._handler not in logger.handlers:
                logger.addHandler(self._handler)

    def redirect_workers(self) -> None:
        """Send the workers' reprinted stdout/stderr to the file (call after ``ray.init``)."""
        dispatcher = _dispatcher()
        if dispatcher is None:
            return
        printers = [h for name, h in dispatcher.handlers if name == _RAY_PRINTER]
        if not printers:  # log_to_driver=False: nothing is reprinted
            return
        self._printer = printers[0]
        dispatcher.remove_handler(_RAY_PRINTER)
        dispatcher.add_handler(_OUR_PRINTER, self._write_batch)

    def _restore_printer(self) -> None:
        dispatcher = _dispatcher()
        if dispatcher is None or self._printer is None:
            return
        dispatcher.remove_handler(_OUR_PRINTER)
        dispatcher.add_handler(_RAY_PRINTER, self._printer)
        self._printer = None

    def _write_batch(self, data: dict[str, Any]) -> None:
        """One batch of worker lines, prefixed like Ray does: ``(name pid=N, ip=...)``."""
        if self._file is None or self._file.closed:
            return
        lines = list(data.get("lines", []))
        if data.get("pid") == "autoscaler":
            # Only its events ("Adding 1 node(s) ..."), as Ray's printer shows: its status
            # table repeats every few seconds.
            lines = list(_autoscaler_events(lines))
        name = data.get("actor_name") or data.get("task_name") or ""
        prefix = f"({name + ' ' if name else ''}pid={data.get('pid')}, ip={data.get('ip')})"
        for line in lines:
            self._file.write(f"{prefix} {line}\n")

    @contextlib.contextmanager
    def captured(self) -> Iterator[None]:
        """``sys.stdout`` and ``sys.stderr`` into the file for the block (Ray's own prints)."""
        with contextlib.redirect_stdout(self.file), contextlib.redirect_stderr(self.file):
            yield


def _is_console(handler: logging.Handler) -> bool:
    """Whether a handler writes to a stream (Ray's are stderr ones), not to a file."""
    return isinstance(handler, logging.StreamHandler) and not isinstance(
        handler, logging.FileHandler
    )


def _autoscaler_events(lines: list[str]) -> Iterator[str]:
    """The event lines of the autoscaler's output (Ray's own filter; none without it)."""
    try:
        from ray._private.worker import filter_autoscaler_events

        # A list now: the filter asks the GCS which autoscaler version runs, and raises
        # AssertionError without a connected Ray.
        return iter(list(filter_autoscaler_events(lines)))
    except (ImportError, AssertionError, RuntimeError):
        return iter(())


def _dispatcher() -> Any:
    """Ray's worker-output dispatcher, or None when this Ray has none."""
    try:
        from ray._private import ray_logging
    except ImportError:
        return None
    dispatcher = getattr(ray_logging, "global_worker_stdstream_dispatcher", None)
    return dispatcher if hasattr(dispatcher, "handlers") else None
