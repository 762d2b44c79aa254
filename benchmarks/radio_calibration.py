"""The radio model's statistics beside the references it is read against.

Run with ``python -m benchmarks.radio_calibration [--drops 20] [--json PATH]``.

A 19-site hexagonal layout (two full rings around a centre site) is dropped ``--drops`` times at
full load; statistics are taken over the users of the inner 7 sites only, whose interferers are
all present (the model has no wrap-around). Printed per environment (UMa at 500 m, UMi at 200 m,
3.5 GHz, 10 users per cell; omnidirectional sites, and three sectors per site with the 38.901
antenna pattern, outdoors and with 80 % of the users indoors as in 38.901's calibration, on the
ground floor or on the floors of 38.901 Table 7.2-1, ``radio.floors = "38.901"``, the latter also
with Table 7.5-6's outdoor-to-indoor shadowing, ``radio.o2i_shadowing = "38.901"``): the coupling
loss, the downlink and uplink SINR (5th, 50th, 95th percentile), the average spectral
efficiency per cell or sector (M.2410's per TRxP; full buffer, equal air time) and the
5th-percentile user spectral efficiency (the user's link efficiency over the users sharing its
cell or sector), beside ITU-R M.2410's dense-urban eMBB requirements (7.8 / 5.4 bit/s/Hz average,
0.225 / 0.15 at the 5th percentile, down / up). M.2410's requirements assume multi-antenna
systems; the model's MIMO is rank adaptation over equal-power layers: the column with up to 4
layers down and 2 up (UMa, the preset ``paper-case-study-38901``) shows what that closes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cnc6g.model.radio import Environment, RadioModel
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.twin import compile_scenario
from cnc6g.twin.radio import RadioChannel, spectral_efficiency, user_sinr_db

M2410 = {"dl_avg": 7.8, "ul_avg": 5.4, "dl_5pct_user": 0.225, "ul_5pct_user": 0.15}
INNER_SITES = 7


def calibrate(
    env: Environment,
    isd_m: float,
    drops: int,
    layers: tuple[int, int] = (1, 1),
    sectors: int = 1,
    indoor_share: float = 0.0,
    floors: str = "ground",
    o2i_shadowing: str = "los-nlos",
) -> dict[str, float]:
    """Statistics over ``drops`` drops of the 19-site layout at full load."""
    base = synthetic_scenario("calibration", n_cells=19, n_services=2, offered_load=0.5)
    model = RadioModel.model_validate(
        {
            "environment": env,
            "isd_m": isd_m,
            "downlink_layers": layers[0],
            "uplink_layers": layers[1],
            "sectors": sectors,
            "indoor_share": indoor_share,
            "floors": floors,
            "o2i_shadowing": o2i_shadowing,
        }
    )
    scenario = type(base).model_validate({**base.model_dump(), "radio": model.model_dump()})
    system = compile_scenario(scenario)
    coupling, dl, ul, sharing = [], [], [], []
    for drop in range(drops):
        channel = RadioChannel(system, np.random.default_rng(drop), 1)
        layout = channel.layout
        inner = layout.link_site[:, 0] < INNER_SITES
        sinr_ul, sinr_dl = user_sinr_db(layout, channel.shadowing, np.ones((1, layout.n_sites)))
        loss = layout.pathloss_db[:, 0] + layout.shadow_std_db[:, 0] * channel.shadowing[0, :, 0]
        if layout.sector_gain_db is None:
            antenna = np.full(loss.shape, model.bs_antenna_gain_dbi)
        else:  # the serving sector's gain towards the user
            antenna = layout.sector_gain_db[np.arange(loss.size), 0, layout.serving_sector]
        coupling.append(loss[inner] - antenna[inner])
        dl.append(sinr_dl[0, inner])
        ul.append(sinr_ul[0, inner])
        # The users sharing each user's air time: its cell's, or its sector's.
        group = layout.user_origin * 3 + (
            0 if layout.serving_sector is None else layout.serving_sector
        )
        sharing.append(np.bincount(group)[group][inner])
    out: dict[str, float] = {}
    for name, values in (("coupling_loss_db", coupling), ("dl_sinr_db", dl), ("ul_sinr_db", ul)):
        v = np.concatenate(values)
        for q in (5, 50, 95):
            out[f"{name}_p{q}"] = float(np.percentile(v, q))
    users = np.concatenate(sharing)
    for link, values, rank in (("dl", dl, layers[0]), ("ul", ul, layers[1])):
        se = spectral_efficiency(model, np.concatenate(values), rank)
        out[f"{link}_avg"] = float(se.mean())
        out[f"{link}_5pct_user"] = float(np.percentile(se / users, 5))
    return out


def main(argv: list[str] | None = None) -> None:
    """Print the statistics of UMa and UMi and, with ``--json``, write them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    results = {
        "uma-500m": calibrate(Environment.UMA, 500.0, args.drops),
        "umi-200m": calibrate(Environment.UMI, 200.0, args.drops),
        "uma-500m-4x2": calibrate(Environment.UMA, 500.0, args.drops, (4, 2)),
        "uma-500m-3sec": calibrate(Environment.UMA, 500.0, args.drops, sectors=3),
        "umi-200m-3sec": calibrate(Environment.UMI, 200.0, args.drops, sectors=3),
        "uma-500m-3sec-80in": calibrate(
            Environment.UMA, 500.0, args.drops, sectors=3, indoor_share=0.8
        ),
        "uma-500m-3sec-80in-floors": calibrate(
            Environment.UMA, 500.0, args.drops, sectors=3, indoor_share=0.8, floors="38.901"
        ),
        "umi-200m-3sec-80in": calibrate(
            Environment.UMI, 200.0, args.drops, sectors=3, indoor_share=0.8
        ),
        "umi-200m-3sec-80in-floors": calibrate(
            Environment.UMI, 200.0, args.drops, sectors=3, indoor_share=0.8, floors="38.901"
        ),
        "uma-500m-3sec-80in-floors-o2i": calibrate(
            Environment.UMA,
            500.0,
            args.drops,
            sectors=3,
            indoor_share=0.8,
            floors="38.901",
            o2i_shadowing="38.901",
        ),
        "umi-200m-3sec-80in-floors-o2i": calibrate(
            Environment.UMI,
            200.0,
            args.drops,
            sectors=3,
            indoor_share=0.8,
            floors="38.901",
            o2i_shadowing="38.901",
        ),
    }
    keys = list(next(iter(results.values())))
    width = {name: max(12, len(name) + 2) for name in results}
    print(f"{'statistic':<24}" + "".join(f"{k:>{width[k]}}" for k in results) + f"{'M.2410':>10}")
    for key in keys:
        row = "".join(f"{results[name][key]:>{width[name]}.3f}" for name in results)
        ref = f"{M2410[key]:>10.3f}" if key in M2410 else f"{'':>10}"
        print(f"{key:<24}{row}{ref}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
