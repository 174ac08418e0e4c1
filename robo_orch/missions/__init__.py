"""Simulated missions: running one (:mod:`~robo_orch.missions.session`), judging and
plotting it (:mod:`~robo_orch.missions.report`), and the scenario suite
(:mod:`~robo_orch.missions.scenarios`)."""
