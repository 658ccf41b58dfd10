"""The report of ``benchmark_dropout.py``: its table, goal ratios and bar chart.

A module of its own so that the benchmark script stays readable; it imports
nothing that loads a BLAS, so the script can import it before it sets its
thread limits.
"""
import statistics


def variant_rows(variants):
    """Return the measured figures of each variant, by name."""
    rows = {}
    for name, v in variants.items():
        rows[name] = {
            "backend": v["backend"],
            "train_samples_per_s": statistics.median(v["epoch_rates"]),
            "epoch_samples_per_s": v["epoch_rates"],
            "predict_samples_per_s": v["predict_rate"],
            "mc_predict_samples_per_s": v.get("mc_rate"),
            "compile_seconds": v["compile_seconds"],
            "rss_increase_mb": v["rss_increase_mb"],
        }
    return rows


def epoch_ratio(rows, a, b):
    """Median over epochs of the ratio within each epoch (the variants shared its machine)."""
    if a in rows and b in rows:
        return statistics.median(x / y for x, y in zip(rows[a]["epoch_samples_per_s"],
                                                       rows[b]["epoch_samples_per_s"]))
    return None


def vs_bound(rows, name, bound_rounds):
    """Median over epochs of the variant's training rate over that epoch's sgemm bound."""
    rates = rows[name]["epoch_samples_per_s"]
    return statistics.median(r / b for r, b in zip(rates, bound_rounds))


def add_ratios(rows, bound_rounds):
    """Add to each row its ratios to its backend's no-dropout, the bound and its prediction."""
    baselines = {"pytensor": "none", "torch": "torch none"}
    for name, row in rows.items():
        mc = row["mc_predict_samples_per_s"]
        row["vs_no_dropout"] = epoch_ratio(rows, name, baselines[row["backend"]])
        row["vs_sgemm_bound"] = vs_bound(rows, name, bound_rounds)
        row["mc_vs_predict"] = None if mc is None else mc / row["predict_samples_per_s"]


def print_table(rows):
    """Print the variants as a Markdown table."""
    print()
    print("| variant | train samples/s | vs its no-dropout | vs sgemm bound | predict samples/s | "
          "MC-dropout samples/s | MC / predict |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, row in rows.items():
        mc = row["mc_predict_samples_per_s"]
        mc_text = "-" if mc is None else f"{mc:,.0f}"
        print(f"| {name} | {row['train_samples_per_s']:,.0f} | {_fmt(row['vs_no_dropout'])} | "
              f"{row['vs_sgemm_bound']:.2f} | "
              f"{row['predict_samples_per_s']:,.0f} | {mc_text} | {_fmt(row['mc_vs_predict'])} |")


def goal_ratios(rows, bound_rounds):
    """Return the ratios the project's speed goals are stated in, and the fastest dropout."""
    best = max((n for n in rows if rows[n]["backend"] == "pytensor" and not n.startswith("none")),
               key=lambda n: rows[n]["train_samples_per_s"], default=None)
    return {
        "dropout_vs_none": epoch_ratio(rows, "switch+bits", "none"),
        "dropout_vs_torch_dropout": epoch_ratio(rows, "switch+bits", "torch dropout"),
        "none_vs_sgemm_bound": vs_bound(rows, "none", bound_rounds) if "none" in rows else None,
        "switch_vs_multiply_uniform": epoch_ratio(rows, "switch+uniform", "multiply+uniform"),
        "switch_vs_multiply_bits": epoch_ratio(rows, "switch+bits", "multiply+bits"),
        "bits_vs_uniform_switch": epoch_ratio(rows, "switch+bits", "switch+uniform"),
        "fastest_dropout_variant": best,
    }


#: The speed goals (issue 15): dropout at no cost, at least twice PyTorch's
#: ``nn.Dropout``, and the network without dropout near NumPy's sgemm.
TARGETS = {"dropout_vs_none": 0.98, "dropout_vs_torch_dropout": 2.0, "none_vs_sgemm_bound": 0.90}
_GOAL_LABELS = {"dropout_vs_none": "switch+bits / none",
                "dropout_vs_torch_dropout": "switch+bits / torch dropout",
                "none_vs_sgemm_bound": "none / sgemm bound"}


def print_goals(goals, gflops, sgemm_rounds, sgemm_all, flop_per_sample, bound):
    """Print the sgemm bound and the goal ratios."""
    print()
    print(f"sgemm: {gflops:.0f} GFLOP/s (NumPy on this step's products, timed in turn with the "
          f"variants; median of {len(sgemm_rounds)} epochs, {min(sgemm_all):.0f} to "
          f"{max(sgemm_all):.0f} in all measurements); {flop_per_sample / 1e6:.2f} MFLOP per "
          f"sample -> bound {bound:,.0f} samples/s")
    print("ratios are medians of within-epoch ratios")
    for number, (key, label) in enumerate(_GOAL_LABELS.items(), start=1):
        print(f"{f'goal {number}, {label}:':<37}{_fmt(goals[key])}  "
              f"(target >= {TARGETS[key]:.2f})")
    print(f"switch / multiply: {_fmt(goals['switch_vs_multiply_uniform'])} with the uniform mask, "
          f"{_fmt(goals['switch_vs_multiply_bits'])} with the bit mask; "
          f"fastest dropout variant: {goals['fastest_dropout_variant']}")


def _fmt(value):
    return "-" if value is None else f"{value:.2f}"


def plot(results, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot written (pip install .[plot])")
        return
    rows = results["variants"]
    names = list(rows)
    rates = [rows[n]["train_samples_per_s"] for n in names]
    colors = ["tab:blue" if rows[n]["backend"] == "pytensor" else "tab:orange" for n in names]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(names, rates, color=colors)
    ax.axhline(results["sgemm_bound_samples_per_s"], color="k", linestyle="--", linewidth=1,
               label="sgemm bound")
    ax.set_ylabel("training samples / s")
    cfg = results["config"]
    hidden = "-".join(map(str, cfg["hidden"]))
    ax.set_title(f"MLP {cfg['inputs']}-{hidden}-1, batch {cfg['batch_size']}, "
                 f"p={cfg['p']}, {cfg['threads']} threads")
    ax.legend()
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")
