"""Recording runs to MCAP and reading them back.

The modules, lightest first: :mod:`~robo_orch.record.schemas` (Foxglove JSON
schemas), :mod:`~robo_orch.record.foxjson` (their JSON text from templates),
:mod:`~robo_orch.record.channels` (raw and Foxglove channels, the recording
context), :mod:`~robo_orch.record.ticks` (the per-tick records),
:mod:`~robo_orch.record.sink` (MCAP files with splits and a size cap),
:mod:`~robo_orch.record.process` (the recorder process that converts and writes),
:mod:`~robo_orch.record.writer` (the :class:`Recorder`, in the loop's process),
:mod:`~robo_orch.record.mcapscan` and :mod:`~robo_orch.record.reader`
(:func:`open_recording`) and :mod:`~robo_orch.cli.record` (the command-line
options).  Nothing is imported here, so the command line can parse its arguments
before numpy and numba load.
"""
