#!/usr/bin/env python3
"""report.py [results.json]: turn bench/run's results into bench/results.md
(tables, weft's ratio to the best peer, targets met or MISSED, machine info)
and bench/results.png (weft's speed ratio to the best peer, log scale), drawn
with gnuplot, or matplotlib if gnuplot is missing; without either, no chart.

report.py --readme [results.json]: print the README's benchmark section instead.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
from workloads import BY_NAME, FAMILIES, NOT_PEERS, family, lower_is_better  # noqa: E402


def num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if abs(v) >= 1e6:
        return f"{v / 1e6:.2f}M"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:#.3g}"


def speed(weft, other, unit):
    """How many times better weft is than other (>1: weft ahead)."""
    if weft is None or other is None or weft <= 0 or other <= 0:
        return None
    return other / weft if lower_is_better(unit) else weft / other


def fmt_ratio(r):
    if r is None:
        return "-"
    if r >= 1:
        return f"{r:.2f}x better"
    return f"{r:.2f}x ({1 / r:.2f}x worse)"


def describe(c):
    kind, unit = c[0], c[1]
    if kind == "max":
        return f"weft <= {fmt(c[2])} {unit}"
    if kind == "min":
        return f"weft >= {fmt(c[2])} {unit}"
    if kind == "vs":
        return f"weft at least {1 / c[3] if lower_is_better(unit) else c[3]:.3g}x as good as {c[2]} ({unit})"
    if kind == "pair":
        return f"{c[2]} at least {1 / c[4] if lower_is_better(unit) else c[4]:.3g}x as good as {c[3]} ({unit})"
    return f"weft ahead of every peer ({unit})"


def check(c, fig, peers):
    """One target check: ("MET"|"MISSED"|"NOT MEASURED", detail)."""
    kind, unit = c[0], c[1]
    if kind == "pair":  # two of weft's own figures: ("pair", unit, a, b, factor)
        a, b = num(fig.get((c[2], unit))), num(fig.get((c[3], unit)))
        if a is None or b is None:
            return "NOT MEASURED", f"{describe(c)}: no {c[2] if a is None else c[3]} {unit} figure"
        bound = b * c[4]
        ok = a <= bound if lower_is_better(unit) else a >= bound
        return ("MET" if ok else "MISSED"), \
            f"{c[2]} {fmt(a)} {unit}; target {'<=' if lower_is_better(unit) else '>='} {c[4]:.3g} x {c[3]} {fmt(b)} = {fmt(bound)} {unit}"
    weft = num(fig.get(("weft", unit)))
    if weft is None:
        return "NOT MEASURED", f"{describe(c)}: no weft {unit} figure"
    low = lower_is_better(unit)
    if kind in ("max", "min"):
        ok = weft <= c[2] if kind == "max" else weft >= c[2]
        return ("MET" if ok else "MISSED"), \
            f"weft {fmt(weft)} {unit}; target {'<=' if kind == 'max' else '>='} {fmt(c[2])} {unit}"
    if kind == "vs":
        other = num(fig.get((c[2], unit)))
        if other is None:
            return "NOT MEASURED", f"{describe(c)}: no {c[2]} {unit} figure"
        bound = other * c[3]
        ok = weft <= bound if low else weft >= bound
        return ("MET" if ok else "MISSED"), \
            f"weft {fmt(weft)} {unit}; target {'<=' if low else '>='} {c[3]:.3g} x {c[2]} {fmt(other)} = {fmt(bound)} {unit}"
    if kind == "ahead":
        vals = {s: num(v) for s, v in peers.items() if num(v) is not None}
        if not vals:
            return "NOT MEASURED", f"{describe(c)}: no peer figures"
        behind = [s for s, v in vals.items() if not (weft < v if low else weft > v)]
        return ("MET" if not behind else "MISSED"), \
            ("ahead of " + ", ".join(sorted(vals))) if not behind else ("not ahead of " + ", ".join(sorted(behind)))
    raise ValueError(c)


def analyse(data):
    """Per (workload, unit): figures, best peer, ratio."""
    figs = {}
    for r in data["results"]:
        figs.setdefault(r["workload"], {})[(r["system"], r["unit"])] = r["value"]
    rows = []
    m = data["meta"]
    for wname in m.get("listed") or m.get("workloads") or list(figs):
        w = BY_NAME.get(wname)
        if w is None:
            continue
        fig = figs.get(wname, {})
        for unit in w.units:
            low = lower_is_better(unit)
            peers = {s: v for (s, u), v in fig.items()
                     if u == unit and s not in NOT_PEERS and s not in w.reduced}
            nums = {s: num(v) for s, v in peers.items() if num(v) is not None}
            best = (min if low else max)(nums, key=nums.get) if nums else None
            weft = num(fig.get(("weft", unit)))
            # the best peer of each family (Go, Python, C/C++, Rust) and weft's ratio to it
            fam = {}
            for s_, v_ in nums.items():
                f_ = family(s_)
                if f_ not in fam or (v_ < fam[f_][1] if low else v_ > fam[f_][1]):
                    fam[f_] = (s_, v_)
            fam = {f_: (s_, v_, speed(weft, v_, unit)) for f_, (s_, v_) in fam.items()}
            rows.append({
                "families": fam,
                "w": w, "unit": unit, "fig": fig, "peers": peers, "best": best,
                "best_value": nums.get(best) if best else None, "weft": weft,
                "ratio": speed(weft, nums.get(best), unit) if best else None,
                "floor": num(fig.get(("floor", unit))),
                "ahead": check(("ahead", unit), fig, peers),
                "ran": wname in (m.get("workloads") or list(figs)),
            })
    return figs, rows


def verdicts(rs):
    """[(state, detail)] for each target check of one workload's rows."""
    w = rs[0]["w"]
    res = []
    for c in w.checks:
        if c[0] == "ahead":
            ur = [r for r in rs if r["unit"] == c[1]]
            res.append(ur[0]["ahead"] if ur else ("NOT MEASURED", ""))
        else:
            res.append(check(c, rs[0]["fig"], {}))
    return res


def misses(by_w):
    """Plain sentences: every target weft misses, every peer it is behind,
    every workload not measured."""
    missed, behind, unmeasured = [], [], []
    for wname, rs in by_w.items():
        w = rs[0]["w"]
        if not any(r["ran"] for r in rs) or all(r["weft"] is None for r in rs):
            why = ("no weft program for it yet" if not any(r["ran"] for r in rs)
                   else "no weft figure in this run")
            unmeasured.append(f"- **{wname}**: NOT MEASURED ({why}). Target: {w.target}.")
            continue
        for c, (state, detail) in zip(w.checks, verdicts(rs)):
            if state == "MISSED" and c[0] != "ahead":
                missed.append(f"- **{wname}**: target missed. {detail}.")
        for r in rs:
            if r["weft"] is None:
                continue
            low = lower_is_better(r["unit"])
            for s, v in sorted(r["peers"].items()):
                v = num(v)
                if v is None or v <= 0:
                    continue
                if (r["weft"] >= v) if low else (r["weft"] <= v):
                    ratio = (r["weft"] / v) if low else (v / r["weft"])
                    behind.append(f"- **{wname}**: weft is behind {s}: {fmt(r['weft'])} vs "
                                  f"{fmt(v)} {r['unit']} ({ratio:.2f}x "
                                  f"{'slower' if r['unit'] != 'MiB' else 'more memory'}).")
    out = ["## Where weft misses\n"]
    out.append("BENCHMARKS.md asks weft to meet each workload's target and to be ahead of "
               "every peer. In this run:\n")
    if missed:
        out.append(f"Targets missed ({len(missed)}):\n")
        out += missed
        out.append("")
    else:
        out.append("Every target that was measured is met.\n")
    if behind:
        out.append(f"Peers ahead of weft ({len(behind)}):\n")
        out += behind
        out.append("")
    else:
        out.append("weft is ahead of every peer that was measured.\n")
    if unmeasured:
        out.append(f"Not measured ({len(unmeasured)}):\n")
        out += unmeasured
        out.append("")
    return out


def write_md(data, rows, path, chart_note):
    m = data["meta"]
    out = []
    out.append("# weft benchmark results\n")
    out.append(f"Written by `bench/run` on {m.get('date')}; "
               f"{'**quick mode** (`BENCH_QUICK=1`, reduced sizes)' if m.get('quick') else 'full sizes'}; "
               f"each figure is the median of {m.get('runs')} runs (fewer only where a note says so: "
               "a program over its share of the time budget). "
               "Ratios are measured side by side in this one run; absolute figures drift.\n")
    out.append("## Machine\n")
    out.append("| | |\n|---|---|")
    out.append(f"| CPU | {m.get('cpu')} |")
    out.append(f"| nproc | {m.get('nproc')} |")
    pin = m.get("pinned")
    out.append(f"| pinning | {'every program under `taskset -c ' + pin + '`' if pin else 'none: programs unpinned, threads of one program may or may not share a core'} |")
    out.append(f"| kernel | {m.get('kernel')} |")
    for k in ("cc", "go", "python", "greenlet", "gevent", "loadavg_at_end"):
        out.append(f"| {k} | {m.get(k)} |")
    out.append(f"| weft build | {m.get('weft_build')} |")
    out.append(f"| wall time of all runs | {m.get('elapsed_s')} s |")
    if m.get("budget_s"):
        out.append(f"| time budget of the runs | {sum(m['budget_s'].values())} s |")
    out.append("")

    out.append("## Summary\n")
    out.append("Ratio: how many times better weft is than the best peer (peers are every "
               "system except weft and floor), direction-aware: lower is better for "
               "ns/op, us/op, s and MiB, higher for ops/s, msgs/s and req/s.\n")
    out.append("| workload | unit | weft | floor | best peer | weft vs best peer | best of each family (weft vs it) | ahead of every peer | target | target met |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    by_w = {}
    for r in rows:
        by_w.setdefault(r["w"].name, []).append(r)
    for wname, rs in by_w.items():
        w = rs[0]["w"]
        states = [s for s, _ in verdicts(rs)]
        verdict = ("MISSED" if "MISSED" in states else
                   "NOT MEASURED" if "NOT MEASURED" in states else "MET")
        for j, r in enumerate(rs):
            weft_fig = r["fig"].get(("weft", r["unit"]))
            if not r["ran"]:
                weft_fig = "no program yet"
            best = f"{r['best']} {fmt(r['best_value'])}" if r["best"] else "-"
            out.append(f"| {wname if j == 0 else ''} | {r['unit']} | {fmt(weft_fig)} | "
                       f"{fmt(r['floor'])} | {best} | {fmt_ratio(r['ratio'])} | "
                       f"{fam_cell(r)} | "
                       f"{r['ahead'][0]} | {w.target if j == 0 else ''} | "
                       f"{('**' + verdict + '**') if j == 0 else ''} |")
    out.append("")
    met = sum(1 for rs in by_w.values() if all(s == "MET" for s, _ in verdicts(rs)))
    nm = sum(1 for rs in by_w.values()
             if any(s == "NOT MEASURED" for s, _ in verdicts(rs))
             and not any(s == "MISSED" for s, _ in verdicts(rs)))
    ahead = sum(1 for rs in by_w.values()
                if any(r["weft"] is not None for r in rs)
                and all(r["ahead"][0] == "MET" for r in rs))
    out.insert(out.index("## Summary\n") + 1,
               f"Of {len(by_w)} workloads, weft meets its target on {met}, misses it on "
               f"{len(by_w) - met - nm} and is not measured on {nm}; it is ahead of every "
               f"peer on {ahead}. *Where weft misses*, below the table, names each miss.\n")
    out += misses(by_w)

    out.append("## Per workload\n")
    for wname, rs in by_w.items():
        w = rs[0]["w"]
        out.append(f"### {wname}\n")
        out.append(f"{w.what}. Target: {w.target}.\n")
        if not any(r["ran"] for r in rs):
            out.append("NOT MEASURED: no program for this workload yet.\n")
            continue
        out.append("| system | value | unit | weft compared with it |")
        out.append("|---|---|---|---|")
        for r in rs:
            unit = r["unit"]
            systems = sorted({s for (s, u) in r["fig"] if u == unit},
                             key=lambda s: ({"weft": 0, "floor": 1}.get(s, 2), s))
            for s in systems:
                v = r["fig"][(s, unit)]
                cmp_ = "" if s in ("weft", "weft-1t") else fmt_ratio(speed(r["weft"], num(v), unit))
                best = " (best peer)" if s == r["best"] else ""
                if s in w.reduced:
                    one = num(r["fig"].get(("weft-1t", unit)))
                    if "weft-1t" in w.reduced[s] and one is not None:
                        cmp_ = (f"weft-1t {fmt_ratio(speed(one, num(v), unit))}; "
                                f"{w.reduced[s]}")
                    else:
                        cmp_ = f"not compared: {w.reduced[s]}"
                out.append(f"| {s}{best} | {fmt(v)} | {unit} | {cmp_} |")
        out.append("")
        for c in w.checks:
            if c[0] == "ahead":
                ur = [r for r in rs if r["unit"] == c[1]]
                state, detail = ur[0]["ahead"] if ur else ("NOT MEASURED", "")
            else:
                state, detail = check(c, rs[0]["fig"], {})
            out.append(f"- target check: **{state}**: {detail}")
        ws = m.get("workload_s", {}).get(wname)
        if ws is not None:
            bud = m.get("budget_s", {}).get(wname)
            per = ", ".join(f"{k.split('/')[1]} {'/'.join(f'{x:.1f}' for x in v)} s"
                            for k, v in sorted(m.get("timings", {}).items())
                            if k.split("/")[0] == wname and v)
            out.append(f"- wall time: {ws:.1f} s{f' (budget {bud} s)' if bud else ''}"
                       f"{'; per run: ' + per if per else ''}")
        for key, ns in sorted(data.get("notes", {}).items()):
            if key.split("/")[0] == wname:
                for n in ns:
                    out.append(f"- note ({key.split('/')[1]}): {n}")
        out.append("")
    out.append("## Chart\n")
    out.append(chart_note + "\n")
    with open(path, "w") as f:
        f.write("\n".join(out))


def fam_cell(r):
    """`Go: go 6.46 (0.47x); C/C++: boost 12.1 (1.1x)` for the summary table."""
    cells = []
    for f_ in FAMILIES:
        if f_ in r["families"]:
            s_, v_, ratio = r["families"][f_]
            cells.append(f"{f_}: {s_} {fmt(v_)} ({fmt_ratio(ratio)})")
    return "; ".join(cells) or "-"


def chart_points(rows):
    """[(label, {family: (ratio or None, best system of the family)})], one per row."""
    pts = []
    for r in rows:
        label = r["w"].name if len(r["w"].units) == 1 else f"{r['w'].name} ({r['unit']})"
        pts.append((label, {f_: (ratio, s_) for f_, (s_, v_, ratio) in r["families"].items()}))
    return pts


FAMILY_COLOURS = {"Go": "0x00add8", "Python": "0xf1c40f", "C/C++": "0x7f5fa0",
                  "Rust": "0xce422b"}


def draw_gnuplot(pts, png, title):
    """Grouped bars: per workload, weft's speed ratio to the best peer of each family
    (Go, Python, C/C++, Rust), log scale; a family without a figure has no bar."""
    vals = [v for _, fams in pts for v, _ in fams.values() if v is not None]
    lo = min(vals + [1.0]) / 2
    hi = max(vals + [1.0]) * 2
    tics = [t * 10.0 ** e for e in range(-6, 7) for t in (1, 2, 5) if lo <= t * 10.0 ** e <= hi]
    width = 0.8 / len(FAMILIES)
    with tempfile.TemporaryDirectory() as td:
        dats = {}
        for k, f_ in enumerate(FAMILIES):
            dat = os.path.join(td, f"d{k}.dat")
            dats[f_] = dat
            with open(dat, "w") as f:
                # x, ratio, bar bottom, bar top, x left, x right, text over the bar
                for i, (_, fams) in enumerate(pts):
                    v, sys_ = fams.get(f_, (None, None))
                    if v is None:
                        continue
                    x = i - 0.4 + width * (k + 0.5)
                    f.write(f'{x} {v} {min(v, 1)} {max(v, 1)} {x - width / 2} {x + width / 2} '
                            f'"{v:.2g}" \n')
        gp = [
            "set terminal pngcairo size 1400,640 font 'sans,9'" if pngcairo_ok()
            else "set terminal png size 1400,640",
            f"set output '{png}'",
            "set termoption noenhanced",
            f"set title \"{title}\"",
            "set logscale y 10",
            f"set yrange [{lo}:{hi}]",
            "set ytics (" + ", ".join(f'"{t:g}" {t}' for t in tics) + ")",
            "set ylabel 'weft speed / best peer of the family (log; >1 = weft ahead)'",
            "set style fill solid 0.85 border -1",
            "set grid ytics",
            "set xtics rotate by -35 left nomirror",
            "set xtics (" + ", ".join(f'"{l}" {i}' for i, (l, _) in enumerate(pts)) + ")",
            f"set xrange [-0.6:{len(pts) - 0.4}]",
            "set key top right",
            "set bmargin 7",
        ]
        if not vals:
            gp.append("set label 1 'no weft figures in this run (bench_<workload> not built)' "
                      "at graph 0.5, graph 0.7 center font ',14'")
        plots = []
        for f_ in FAMILIES:
            if os.path.getsize(dats[f_]) == 0:
                continue
            plots.append(f"'{dats[f_]}' using 1:2:5:6:3:4 with boxxyerror "
                         f"lc rgb '#{FAMILY_COLOURS[f_][2:]}' title 'vs best {f_} peer'")
        plots.append("1 with lines lw 2 dt 2 lc rgb 'black' title 'parity'")
        gp.append("plot " + ", ".join(plots))
        script = os.path.join(td, "c.gp")
        with open(script, "w") as f:
            f.write("\n".join(gp) + "\n")
        r = subprocess.run(["gnuplot", script], capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stderr, file=sys.stderr)
            return False
    return True


_pngcairo = None


def pngcairo_ok():
    global _pngcairo
    if _pngcairo is None:
        r = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
        _pngcairo = "pngcairo" in (r.stdout + r.stderr)
    return _pngcairo


def draw_matplotlib(pts, png, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(14, 6.4))
    width = 0.8 / len(FAMILIES)
    any_bar = False
    for k, f_ in enumerate(FAMILIES):
        xs, hs = [], []
        for i, (_, fams) in enumerate(pts):
            v = fams.get(f_, (None, None))[0]
            if v is not None:
                xs.append(i - 0.4 + width * (k + 0.5))
                hs.append(v)
        if xs:
            any_bar = True
            ax.bar(xs, hs, width=width, color="#" + FAMILY_COLOURS[f_][2:],
                   label=f"vs best {f_} peer")
    ax.axhline(1, ls="--", color="black", label="parity")
    ax.set_yscale("log")
    ax.set_xticks(range(len(pts)))
    ax.set_xticklabels([l for l, _ in pts], rotation=35, ha="right")
    ax.set_ylabel("weft speed / best peer of the family (log; >1 = weft ahead)")
    ax.set_title(title)
    if not any_bar:
        ax.text(0.5, 0.6, "no weft figures in this run", transform=ax.transAxes, ha="center")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png)
    return True


def readme_section(data, rows):
    """The README's benchmark section (markdown): a short table of weft against
    the best peer, the misses in words, and the machine."""
    m = data["meta"]
    by_w = {}
    for r in rows:
        by_w.setdefault(r["w"].name, []).append(r)
    out = [f"From one {'quick (`BENCH_QUICK=1`)' if m.get('quick') else 'full'} `make bench` run "
           f"({str(m.get('date', ''))[:10]}) on {m.get('cpu')}, {m.get('nproc')} CPUs, "
           f"{m.get('kernel')}; {m.get('cc')}, {m.get('go')}, CPython {m.get('python')}, "
           f"gevent {m.get('gevent')}, greenlet {m.get('greenlet')}; programs "
           f"{'pinned to CPUs ' + m['pinned'] if m.get('pinned') else 'unpinned'}. Each figure "
           "is the median of 3 runs (or fewer, where `bench/results.md` says so); absolute figures drift on shared machines, the ratios "
           "(measured side by side) are what hold. Full tables: `bench/results.md`.", ""]
    out.append("| workload | weft | best peer | weft vs best peer | target |")
    out.append("|---|---|---|---|---|")
    for wname, rs in by_w.items():
        w = rs[0]["w"]
        states = [st for st, _ in verdicts(rs)]
        verdict = ("missed" if "MISSED" in states else
                   "not measured" if "NOT MEASURED" in states else "met")
        for j, r in enumerate(rs):
            weft = r["fig"].get(("weft", r["unit"]))
            wf = "no program yet" if not r["ran"] else (
                f"{fmt(weft)} {r['unit']}" if num(weft) is not None else fmt(weft))
            best = f"{r['best']} {fmt(r['best_value'])}" if r["best"] else "-"
            tgt = f"{w.target}: **{verdict}**" if j == 0 else ""
            out.append(f"| {wname if j == 0 else ''} | {wf} | {best} | "
                       f"{fmt_ratio(r['ratio'])} | {tgt} |")
    out.append("")
    ms = misses(by_w)[1:]
    ms[0] = ("Where weft misses (each workload has a target, and weft is meant to be ahead "
             "of every peer):\n")
    out += ms
    return "\n".join(out).rstrip() + "\n"


def main(argv):
    if argv and argv[0] == "--readme":
        src = argv[1] if len(argv) > 1 else os.path.join(BENCH, "results.json")
        with open(src) as f:
            data = json.load(f)
        _, rows = analyse(data)
        sys.stdout.write(readme_section(data, rows))
        return 0
    src = argv[0] if argv else os.path.join(BENCH, "results.json")
    with open(src) as f:
        data = json.load(f)
    _, rows = analyse(data)
    md = os.path.join(os.path.dirname(os.path.abspath(src)), "results.md")
    png = os.path.join(os.path.dirname(os.path.abspath(src)), "results.png")
    m = data["meta"]
    title = (f"weft vs the best peer of each family ({'quick' if m.get('quick') else 'full'}, "
             f"{m.get('nproc')} CPUs, {m.get('date', '')[:10]})")
    pts = chart_points(rows)
    drawn = None
    if shutil.which("gnuplot"):
        drawn = draw_gnuplot(pts, png, title) and "gnuplot"
    if not drawn:
        try:
            drawn = draw_matplotlib(pts, png, title) and "matplotlib"
        except ImportError:
            pass
    if drawn:
        note = (f"`results.png` (drawn with {drawn}): per workload, weft's speed ratio to the "
                "best peer of each family (Go, Python, C/C++, Rust), log scale.")
        print(f"bench: wrote {png}", file=sys.stderr)
    else:
        note = "No chart: neither gnuplot nor matplotlib is installed (`apt-get install gnuplot-nox`)."
        print(f"bench: {note}", file=sys.stderr)
        if os.path.exists(png):
            os.remove(png)  # never leave a stale chart beside fresh tables
    write_md(data, rows, md, note)
    print(f"bench: wrote {md}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
