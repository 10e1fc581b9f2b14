"""A round as TensorBoard event files: every curve of every trial, and the HParams summary.

Layout: ``DIR/<round>/`` holds the HParams experiment (each tuned hyperparameter with its
domain, each metric); ``DIR/<round>/<number>/`` holds one trial's scalars (tag = metric key,
e.g. ``dev/accuracy``) and its HParams session (config and status). Written with the
``tensorboard`` package's own event writer and protos: no TensorFlow, no torch.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tunebook.core.errors import MissingExtraError, SpecError
from tunebook.core.space import Param
from tunebook.interop.dump import Exported, RoundDump, plain

_STATUS = {"completed": "STATUS_SUCCESS", "failed": "STATUS_FAILURE",
           "diverged": "STATUS_FAILURE", "pruned": "STATUS_ABORTED"}


def _tb() -> Any:
    try:
        from tensorboard.compat.proto import summary_pb2
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        raise MissingExtraError("tensorboard", "interop") from None
    return summary_pb2, api_pb2, metadata, plugin_data_pb2, EventFileWriter


def _hparams_summary(tag: str, **data: Any) -> Any:
    summary_pb2, _, metadata, plugin_data_pb2, _ = _tb()
    content = plugin_data_pb2.HParamsPluginData(version=metadata.PLUGIN_DATA_VERSION, **data)
    meta = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(
        plugin_name=metadata.PLUGIN_NAME, content=content.SerializeToString()))
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, metadata=meta)])


def _hparam_info(name: str, p: Param) -> Any:
    from google.protobuf import struct_pb2

    _, api_pb2, _, _, _ = _tb()
    options = p.values if p.role == "target" else p.choices
    if options is not None:
        values = [plain(v) for v in options]
        typ = ("DATA_TYPE_FLOAT64" if all(isinstance(v, int | float) and not isinstance(v, bool)
                                          for v in values)
               else "DATA_TYPE_BOOL" if all(isinstance(v, bool) for v in values)
               else "DATA_TYPE_STRING")
        listed = struct_pb2.ListValue()
        listed.extend([v if typ != "DATA_TYPE_STRING" else str(v) for v in values])
        return api_pb2.HParamInfo(name=name, type=api_pb2.DataType.Value(typ),
                                  domain_discrete=listed)
    return api_pb2.HParamInfo(name=name, type=api_pb2.DataType.Value("DATA_TYPE_FLOAT64"),
                              domain_interval=api_pb2.Interval(min_value=p.low,
                                                               max_value=p.high))


def _set(value_pb: Any, v: Any) -> None:
    if isinstance(v, bool):
        value_pb.bool_value = v
    elif isinstance(v, int | float):
        value_pb.number_value = float(v)
    else:
        value_pb.string_value = str(v)


def export_tensorboard(dump: RoundDump, folder: str | Path) -> Exported:
    """Write the round under ``folder/<round>/`` (refused when that folder is not empty)."""
    summary_pb2, api_pb2, metadata, plugin_data_pb2, EventFileWriter = _tb()
    root = Path(folder) / dump.record.name
    if root.exists() and any(root.iterdir()):
        raise SpecError("export --to tensorboard", f"a folder without {root.name}/ in it "
                        "(an export never overwrites event files)", str(root))
    root.mkdir(parents=True, exist_ok=True)
    tuned = {k: p for k, p in dump.spec.params.items() if p.role != "fixed"}
    metric_keys = sorted({k for c in dump.curves.values() for v in c.values() for k in v})
    experiment = api_pb2.Experiment(
        name=dump.record.name, description=dump.record.question,
        time_created_secs=dump.record.created_at,
        hparam_infos=[_hparam_info(k, p) for k, p in tuned.items()],
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=k)) for k in metric_keys])
    _write(EventFileWriter, root, dump.record.created_at,
           [(0, _hparams_summary(metadata.EXPERIMENT_TAG, experiment=experiment))])
    written, skipped = 0, []
    for t in dump.trials:
        if t.status not in _STATUS:
            skipped.append(f"trial {t.id}: {t.status}, not finished")
            continue
        start = plugin_data_pb2.SessionStartInfo(
            group_name=f"{t.number:05d}", start_time_secs=t.started_at or t.created_at or 0.0)
        for k, v in t.config.items():
            _set(start.hparams[k], plain(v))
        end = plugin_data_pb2.SessionEndInfo(
            status=api_pb2.Status.Value(_STATUS[t.status]),
            end_time_secs=t.finished_at or 0.0)
        events = [(0, _hparams_summary(metadata.SESSION_START_INFO_TAG,
                                       session_start_info=start))]
        for step, values in sorted(dump.curves.get(t.id, {}).items()):
            finite = [summary_pb2.Summary.Value(tag=k, simple_value=float(v))
                      for k, v in sorted(values.items()) if v is not None and math.isfinite(v)]
            if finite:
                events.append((step, summary_pb2.Summary(value=finite)))
        last = max(dump.curves.get(t.id, {0: {}}))
        events.append((last, _hparams_summary(metadata.SESSION_END_INFO_TAG,
                                              session_end_info=end)))
        _write(EventFileWriter, root / f"{t.number:05d}", t.started_at or 0.0, events)
        written += 1
    return Exported(dump.record.name, "tensorboard", str(Path(folder).resolve()),
                    str(root.resolve()), written, tuple(skipped))


def _write(writer_cls: Any, folder: Path, wall: float, events: list[tuple[int, Any]]) -> None:
    from tensorboard.compat.proto import event_pb2

    folder.mkdir(parents=True, exist_ok=True)
    writer = writer_cls(str(folder))
    try:
        for step, summary in events:
            writer.add_event(event_pb2.Event(wall_time=wall, step=step, summary=summary))
    finally:
        writer.close()
