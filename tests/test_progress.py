import io

from rich.console import Console

from recyclegan.training.progress import TrainProgress


def test_plain_lines_where_output_is_not_a_terminal():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    with TrainProgress(0, 3, console=console, log_interval_s=0) as bar:
        for step in range(3):
            bar.show_losses({"loss/g_total": 1.5 + step, "a2b/recycle": 0.25})
            bar.advance()
    lines = out.getvalue().strip().splitlines()
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert "G 3.500" in lines[-1] and "rec_A 0.250" in lines[-1]


def test_nothing_when_disabled():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    with TrainProgress(0, 2, enabled=False, console=console, log_interval_s=0) as bar:
        bar.advance()
        bar.advance()
    assert out.getvalue() == ""
