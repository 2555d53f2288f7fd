import pytest

from testbed import units


@pytest.mark.parametrize("text,bps", [("10Mbit", 10e6), ("1.5Gbit", 1.5e9), ("512kbit", 512e3),
                                      ("64kbps", 64e3), ("100 Mbps", 100e6), ("85.8Mbit", 85.8e6),
                                      ("9600bit", 9600.0)])
def test_rates(text, bps):
    assert units.parse_rate(text) == pytest.approx(bps)


@pytest.mark.parametrize("text,hint", [("10MB", '"80Mbit" if you meant 10MB per second'),
                                       ("10MBps", "bytes"), ("10M", "expected a rate"),
                                       ("10", "needs a unit"), ("fast", "expected a rate"),
                                       ("-1Mbit", "negative")])
def test_rates_refused(text, hint):
    with pytest.raises(ValueError, match=hint.replace("(", r"\(").replace(")", r"\)")):
        units.parse_rate(text)


@pytest.mark.parametrize("text,s", [("20ms", 0.02), ("1.5s", 1.5), ("250us", 250e-6), ("2min", 120.0),
                                    ("6h", 21600.0), (0, 0.0), ("0.5 ms", 0.0005)])
def test_durations(text, s):
    assert units.parse_duration(text) == pytest.approx(s)


@pytest.mark.parametrize("text", ["20", "20 parsecs", "ms", "-3s", None, True])
def test_durations_refused(text):
    with pytest.raises(ValueError, match="duration"):
        units.parse_duration(text)


def test_percent():
    assert units.parse_percent("2%") == pytest.approx(0.02)
    assert units.parse_percent("0.5%") == pytest.approx(0.005)
    assert units.parse_percent(0) == 0.0
    with pytest.raises(ValueError, match='write "2%"'):
        units.parse_percent(2)
    with pytest.raises(ValueError, match="between 0% and 100%"):
        units.parse_percent("120%")


def test_sizes():
    assert units.parse_size("64KB") == 64000
    assert units.parse_size("64KiB") == 65536
    assert units.parse_size("1500B") == 1500
    with pytest.raises(ValueError, match="size"):
        units.parse_size("64Kbit")


def test_format_round_trip():
    assert units.format_rate(10e6) == "10Mbit"
    assert units.format_rate(85.8e6) == "85.8Mbit"
    assert units.format_rate(None) == "unlimited"
    assert units.format_duration(0.02) == "20ms"
    assert units.format_duration(0.0003) == "300us"
    assert units.format_duration(1.5) == "1.5s"
    assert units.parse_rate(units.format_rate(359e6)) == 359e6
