"""The columns of each Higgs file format, and how a first line tells the format.

Everything the readers, the validator and the DataFrame conversion know
about a format comes from its :class:`Schema`: the column names in file
order, which of them are features, and the kind of each column (an event
identifier, a feature, a weight, a letter code).

Examples
--------
>>> schema = SCHEMAS["kaggle-train"]
>>> schema.columns[0], schema.columns[-2:], len(schema.features)
('EventId', ('Weight', 'Label'), 30)
>>> detect_format("EventId,DER_mass_MMC,Label")
'kaggle-train'
>>> header_problems(["EventId", "b", "a"], ["EventId", "a", "b"])
'columns out of order: column 2 is b, expected a'
"""
import collections
import dataclasses
import re

__all__ = [
    "MISSING_VALUE", "KAGGLE_FEATURES", "UCI_FEATURES", "KAGGLE_TEST_COLUMNS",
    "KAGGLE_TRAIN_COLUMNS", "OPENDATA_COLUMNS", "UCI_COLUMNS", "FORMATS", "KAGGLE_SETS",
    "Schema", "SCHEMAS", "detect_format", "header_problems", "clip", "show_number",
    "MESSAGE_LIMIT",
]

#: Marker for an undefined feature in the Kaggle and open-data files.
MISSING_VALUE = -999.0

#: The 30 features of the Kaggle and open-data files, in file order.
KAGGLE_FEATURES = (
    "DER_mass_MMC", "DER_mass_transverse_met_lep", "DER_mass_vis", "DER_pt_h",
    "DER_deltaeta_jet_jet", "DER_mass_jet_jet", "DER_prodeta_jet_jet", "DER_deltar_tau_lep",
    "DER_pt_tot", "DER_sum_pt", "DER_pt_ratio_lep_tau", "DER_met_phi_centrality",
    "DER_lep_eta_centrality", "PRI_tau_pt", "PRI_tau_eta", "PRI_tau_phi", "PRI_lep_pt",
    "PRI_lep_eta", "PRI_lep_phi", "PRI_met", "PRI_met_phi", "PRI_met_sumet", "PRI_jet_num",
    "PRI_jet_leading_pt", "PRI_jet_leading_eta", "PRI_jet_leading_phi",
    "PRI_jet_subleading_pt", "PRI_jet_subleading_eta", "PRI_jet_subleading_phi",
    "PRI_jet_all_pt",
)

#: The 28 features of the UCI HIGGS file (21 low-level, then 7 high-level).
UCI_FEATURES = (
    "lepton_pt", "lepton_eta", "lepton_phi", "missing_energy_magnitude", "missing_energy_phi",
    "jet1_pt", "jet1_eta", "jet1_phi", "jet1_btag",
    "jet2_pt", "jet2_eta", "jet2_phi", "jet2_btag",
    "jet3_pt", "jet3_eta", "jet3_phi", "jet3_btag",
    "jet4_pt", "jet4_eta", "jet4_phi", "jet4_btag",
    "m_jj", "m_jjj", "m_lv", "m_jlv", "m_bb", "m_wbb", "m_wwbb",
)

KAGGLE_TEST_COLUMNS = ("EventId",) + KAGGLE_FEATURES
KAGGLE_TRAIN_COLUMNS = KAGGLE_TEST_COLUMNS + ("Weight", "Label")
OPENDATA_COLUMNS = KAGGLE_TRAIN_COLUMNS + ("KaggleSet", "KaggleWeight")
UCI_COLUMNS = ("label",) + UCI_FEATURES

FORMATS = ("kaggle-train", "kaggle-test", "opendata", "uci")

#: Values of the open-data ``KaggleSet`` column: training, public
#: leaderboard, private leaderboard, unused.
KAGGLE_SETS = ("t", "b", "v", "u")

#: Longest error message, in characters; longer ones are cut with "...".
MESSAGE_LIMIT = 300

# The kind of each non-feature column: how it is parsed and checked.
_KINDS = {"EventId": "id", "Weight": "weight", "KaggleWeight": "weight", "Label": "letter-label",
          "KaggleSet": "set", "label": "number-label"}


@dataclasses.dataclass(frozen=True)
class Schema:
    """The columns of one file format.

    Attributes
    ----------
    name : str
        One of :data:`FORMATS`.
    columns : tuple of str
        Every column, in file order.
    features : tuple of str
        The feature columns, a contiguous run of ``columns``.
    delimiters : tuple of str
        Field separators the format allows.
    has_header : bool
        Whether the first line names the columns.
    """

    name: str
    columns: tuple
    features: tuple
    delimiters: tuple = (",",)
    has_header: bool = True

    @property
    def first_feature(self):
        """Position of the first feature column."""
        return self.columns.index(self.features[0])

    def kind(self, column):
        """Return the kind of ``column``: how it is parsed and checked.

        One of ``'id'``, ``'feature'``, ``'weight'``, ``'letter-label'``,
        ``'set'`` or ``'number-label'``.
        """
        return _KINDS.get(column, "feature")

    def has(self, column):
        """Whether the format has ``column``."""
        return column in self.columns


SCHEMAS = {
    "kaggle-train": Schema("kaggle-train", KAGGLE_TRAIN_COLUMNS, KAGGLE_FEATURES),
    "kaggle-test": Schema("kaggle-test", KAGGLE_TEST_COLUMNS, KAGGLE_FEATURES),
    "opendata": Schema("opendata", OPENDATA_COLUMNS, KAGGLE_FEATURES),
    "uci": Schema("uci", UCI_COLUMNS, UCI_FEATURES, delimiters=(",", "\t"), has_header=False),
}

# A UCI label or any number, as the validator accepts it (ASCII digits only).
_NUMBER = re.compile(r"[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|nan|inf|infinity)",
                     re.IGNORECASE)


def looks_numeric(field):
    """Whether ``field`` (a str) is a number in the validator's grammar."""
    return _NUMBER.fullmatch(field.strip(" \t")) is not None


def detect_format(first_line, requested=None):
    """Return the format a file's first line shows.

    Parameters
    ----------
    first_line : str
        Line 1, without its line break.
    requested : str or None
        The format the caller expects; checked against the line instead of
        detected.

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    ValueError
        With a message (no path) when the line fits no format, or not the
        requested one.
    """
    first_fields = re.split(r"[,\t]", first_line)
    head = clip(first_fields[0], 40)
    has_header = first_fields[0].strip() == "EventId"
    if requested is not None:
        if requested == "uci" and not looks_numeric(first_fields[0]):
            raise ValueError(f"line 1 starts with {head!r}; a UCI file has no header and starts "
                             "with a numeric label")
        if requested != "uci" and not has_header:
            raise ValueError(f"line 1 is not a {requested} header: it starts with {head!r}, "
                             "expected 'EventId'")
        return requested
    if has_header:
        names = {name.strip() for name in first_fields}
        if "KaggleSet" in names or "KaggleWeight" in names:
            return "opendata"
        if "Label" in names or "Weight" in names:
            return "kaggle-train"
        return "kaggle-test"
    if looks_numeric(first_fields[0]):
        return "uci"
    raise ValueError(f"unrecognised first line starting with {clip(first_line, 40)!r}: expected "
                     "a header starting with 'EventId' (Kaggle or open data) or a headerless "
                     "numeric UCI row")


def header_problems(found, expected):
    """Describe how the column names ``found`` differ from ``expected``.

    Returns
    -------
    str or None
        None when they agree; else the missing, unexpected and duplicated
        names (a few of each), or the first position out of order. Linear in
        the number of names, whatever their number.
    """
    found, expected = list(found), list(expected)
    if found == expected:
        return None
    wanted, present = set(expected), set(found)
    counts = collections.Counter(found)
    problems = []
    missing = [name for name in expected if name not in present]
    unexpected = [name for name in found if name not in wanted]
    duplicated = sorted(name for name, count in counts.items() if count > 1)
    if missing:
        problems.append(f"missing columns {_some(missing)}")
    if unexpected:
        problems.append(f"unexpected columns {_some([repr(clip(n, 40)) for n in unexpected])}")
    if duplicated:
        problems.append(f"duplicated columns {_some([clip(n, 40) for n in duplicated])}")
    if not problems:
        position = next(i for i, (a, b) in enumerate(zip(found, expected)) if a != b)
        problems.append(f"columns out of order: column {position + 1} is {found[position]}, "
                        f"expected {expected[position]}")
    return "; ".join(problems)


def _some(names, limit=5):
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def clip(text, limit=MESSAGE_LIMIT):
    """Return ``text`` cut to ``limit`` characters, ending in ``...`` when cut.

    >>> clip("x" * 10, 6)
    'xxx...'
    """
    text = str(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def show_number(value):
    """Shortest text of a number: 4 rather than 4.0, 100001.5 rather than 100002.

    >>> show_number(4.0), show_number(100001.5)
    ('4', '100001.5')
    """
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text
