"""The label set, defined once. Order fixes the class ids of every model."""

LABELS: tuple[str, ...] = ("accusation", "denial", "neutral")
LABEL2ID: dict[str, int] = {label: i for i, label in enumerate(LABELS)}
ID2LABEL: dict[int, str] = dict(enumerate(LABELS))
ABSTAIN = -1
