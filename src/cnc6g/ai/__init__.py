"""AI inference as a workload: model profiles, processors, and split inference.

- :mod:`cnc6g.ai.profiles`: the shipped per-block tables of real architectures (made by
  :mod:`cnc6g.ai.profiler`, ``cnc6g profile``) and the arrays the solvers use;
- :mod:`cnc6g.ai.processors`: processor classes and a roofline time per block kind;
- :mod:`cnc6g.ai.split`: one request split along terminal -> RAN edge -> cloud (exact DP,
  brute force, baselines), vectorised over a slot's requests;
- :mod:`cnc6g.ai.mincut`: DAG-shaped models partitioned by a minimum s-t cut (DADS);
- :mod:`cnc6g.ai.coupled`: users sharing the uplink and the edge GPUs (HiGHS MILP, price-based
  decomposition, independent splits);
- :mod:`cnc6g.ai.llm`: prefill and decode on different tiers, small/large model routing.
"""
