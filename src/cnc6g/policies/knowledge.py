"""A resource knowledge base: each service's demand learned online from what it consumed.

Seed 000 (section 5.4, service resource management) replaces fixed SLA resource templates by a
knowledge base trained on the consumption services report while they run and adjusted in real
time. Here each (service, quantity) pair (compute per request, memory per instance, bandwidth
per request) has a :class:`DemandSketch`:

- an exponentially weighted mean and variance;
- a small quantile sketch: weighted centroids, the t-digest's idea (Dunning and Ertl, "Computing
  extremely accurate quantiles using t-digests", 2019) reduced to its core: each observation
  becomes a centroid, and past the size limit the two adjacent centroids whose means are
  closest merge (their weighted mean), so dense regions compress and sparse tails keep their
  resolution; a quantile interpolates between the centroids' centres of mass;
- exponential forgetting: every observation multiplies the weight of all earlier ones by
  ``1 - forgetting``, so the estimates follow a demand that drifts (an effective memory of
  about ``1 / forgetting`` observations).

Provisioning reads an upper quantile (:meth:`KnowledgeBase.provision`). The base turns into a
plain dict and back (:meth:`KnowledgeBase.to_dict`, :meth:`KnowledgeBase.from_dict`); writing it
to a file belongs to :mod:`cnc6g.storage.knowledge`. Pure: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

QUANTITIES = ("compute_gcycles", "memory_gb", "bandwidth_mbit")
"""What the base learns per service: work per request, memory per instance, Mbit per request."""

SCHEMA = 1
"""Version of :meth:`KnowledgeBase.to_dict`'s layout."""


@dataclass
class DemandSketch:
    """Online estimate of one demand: weighted mean and variance, quantiles, with forgetting.

    Attributes:
        forgetting: share of the past weight dropped at each observation (0: none).
        max_centroids: size limit of the quantile sketch.
    """

    forgetting: float = 0.02
    max_centroids: int = 32
    means: list[float] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    count: int = 0
    _s0: float = 0.0
    _s1: float = 0.0
    _s2: float = 0.0

    def __post_init__(self) -> None:
        """Check the parameters."""
        if not 0.0 <= self.forgetting < 1.0:
            raise ValueError(f"forgetting must be in [0, 1), got {self.forgetting}")
        if self.max_centroids < 2:
            raise ValueError(f"max_centroids must be >= 2, got {self.max_centroids}")

    def observe(self, value: float, weight: float = 1.0) -> None:
        """Add one observation (``weight`` > 0 counts it as that many)."""
        if not math.isfinite(value):
            raise ValueError(f"observation must be finite, got {value}")
        if weight <= 0:
            raise ValueError(f"weight must be > 0, got {weight}")
        keep = 1.0 - self.forgetting
        if keep < 1.0:
            self.weights = [w * keep for w in self.weights]
            self._s0 *= keep
            self._s2 *= keep
        # Weighted Welford update: _s0 total weight, _s1 mean, _s2 weighted squared deviations.
        self._s0 += weight
        delta = value - self._s1
        self._s1 += weight / self._s0 * delta
        self._s2 += weight * delta * (value - self._s1)
        self.count += 1
        # Insert in order of mean, then merge the closest neighbours while over the limit.
        i = 0
        while i < len(self.means) and self.means[i] < value:
            i += 1
        self.means.insert(i, float(value))
        self.weights.insert(i, float(weight))
        while len(self.means) > self.max_centroids:
            gaps = [self.means[j + 1] - self.means[j] for j in range(len(self.means) - 1)]
            j = min(range(len(gaps)), key=gaps.__getitem__)
            w = self.weights[j] + self.weights[j + 1]
            m = (self.means[j] * self.weights[j] + self.means[j + 1] * self.weights[j + 1]) / w
            self.means[j : j + 2] = [m]
            self.weights[j : j + 2] = [w]

    @property
    def mean(self) -> float:
        """Weighted mean (NaN before any observation)."""
        return self._s1 if self._s0 > 0 else math.nan

    @property
    def std(self) -> float:
        """Weighted standard deviation (NaN before any observation)."""
        if self._s0 <= 0:
            return math.nan
        return math.sqrt(max(self._s2 / self._s0, 0.0))

    def quantile(self, q: float) -> float:
        """The ``q`` quantile, interpolated between centroid centres (NaN when empty)."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q must be in [0, 1], got {q}")
        if not self.means:
            return math.nan
        total = sum(self.weights)
        target = q * total
        centre = []
        acc = 0.0
        for w in self.weights:
            centre.append(acc + w / 2.0)
            acc += w
        if target <= centre[0]:
            return self.means[0]
        if target >= centre[-1]:
            return self.means[-1]
        k = 1
        while centre[k] < target:
            k += 1
        t = (target - centre[k - 1]) / (centre[k] - centre[k - 1])
        return self.means[k - 1] + t * (self.means[k] - self.means[k - 1])

    def to_dict(self) -> dict[str, Any]:
        """The sketch as plain data."""
        return {
            "forgetting": self.forgetting,
            "max_centroids": self.max_centroids,
            "means": list(self.means),
            "weights": list(self.weights),
            "count": self.count,
            "moments": {"weight": self._s0, "mean": self._s1, "m2": self._s2},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DemandSketch:
        """The sketch :meth:`to_dict` gave."""
        mom = data["moments"]
        s0, s1, s2 = float(mom["weight"]), float(mom["mean"]), float(mom["m2"])
        means = [float(x) for x in data["means"]]
        weights = [float(x) for x in data["weights"]]
        if len(means) != len(weights):
            raise ValueError("a sketch needs as many weights as means")
        return cls(
            forgetting=float(data["forgetting"]),
            max_centroids=int(data["max_centroids"]),
            means=means,
            weights=weights,
            count=int(data["count"]),
            _s0=s0,
            _s1=s1,
            _s2=s2,
        )


@dataclass
class KnowledgeBase:
    """Per-service demand sketches and the quantile used for provisioning.

    Attributes:
        quantile: the upper quantile :meth:`provision` reads.
        forgetting: forgetting of new sketches (see :class:`DemandSketch`).
        max_centroids: size limit of new sketches.
    """

    quantile: float = 0.9
    forgetting: float = 0.02
    max_centroids: int = 32
    services: dict[str, dict[str, DemandSketch]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check the parameters."""
        if not 0.0 < self.quantile < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {self.quantile}")
        DemandSketch(self.forgetting, self.max_centroids)

    def sketch(self, service: str, quantity: str) -> DemandSketch:
        """The sketch of one service's quantity (a new, empty one if never observed)."""
        if quantity not in QUANTITIES:
            raise ValueError(f"unknown quantity {quantity!r}: use one of {', '.join(QUANTITIES)}")
        per = self.services.setdefault(service, {})
        if quantity not in per:
            per[quantity] = DemandSketch(self.forgetting, self.max_centroids)
        return per[quantity]

    def observe(self, service: str, weight: float = 1.0, **values: float) -> None:
        """Record what one request (or ``weight`` requests on average) of ``service`` used.

        Keyword arguments name quantities of :data:`QUANTITIES`, e.g.
        ``observe("asr", compute_gcycles=0.62, bandwidth_mbit=0.26)``.
        """
        for quantity, value in values.items():
            self.sketch(service, quantity).observe(value, weight)

    def known(self, service: str, quantity: str) -> bool:
        """Whether ``service``'s ``quantity`` has been observed."""
        sk = self.services.get(service, {}).get(quantity)
        return sk is not None and sk.count > 0

    def provision(self, service: str, quantity: str, q: float | None = None) -> float | None:
        """The demand to provision: the ``q`` quantile (default :attr:`quantile`), or None."""
        if not self.known(service, quantity):
            return None
        return self.services[service][quantity].quantile(self.quantile if q is None else q)

    def summary(self) -> list[dict[str, Any]]:
        """One row per (service, quantity): observations, mean, std and provisioned value."""
        rows = []
        for service, per in sorted(self.services.items()):
            for quantity, sk in sorted(per.items()):
                rows.append(
                    {
                        "service": service,
                        "quantity": quantity,
                        "observations": sk.count,
                        "mean": sk.mean,
                        "std": sk.std,
                        "provisioned": sk.quantile(self.quantile),
                    }
                )
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The base as plain data (JSON-ready)."""
        return {
            "schema": SCHEMA,
            "quantile": self.quantile,
            "forgetting": self.forgetting,
            "max_centroids": self.max_centroids,
            "services": {
                s: {q: sk.to_dict() for q, sk in per.items()} for s, per in self.services.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KnowledgeBase:
        """The base :meth:`to_dict` gave.

        Raises:
            ValueError: another schema, or a malformed entry.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a knowledge base is a JSON object, got {type(data).__name__}")
        if data.get("schema") != SCHEMA:
            raise ValueError(f"knowledge base schema {data.get('schema')!r}, expected {SCHEMA}")
        try:
            services = {
                str(s): {str(q): DemandSketch.from_dict(sk) for q, sk in per.items()}
                for s, per in data["services"].items()
            }
            return cls(
                quantile=float(data["quantile"]),
                forgetting=float(data["forgetting"]),
                max_centroids=int(data["max_centroids"]),
                services=services,
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"malformed knowledge base: {err}") from None


__all__ = ["QUANTITIES", "SCHEMA", "DemandSketch", "KnowledgeBase"]
