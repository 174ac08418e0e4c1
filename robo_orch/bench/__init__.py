"""``robo-orch bench``: the benchmark suite (:mod:`~robo_orch.bench.suite`) and its
sections, one module each; every figure is a median beside a baseline from the
same run.  Extra sections (built-in ones and other packages') join through the
``robo_orch.benchmarks`` group of :mod:`robo_orch.registry`."""
