from usage.charts import daily_tokens_svg


def test_bars_stack_per_day_scaled_to_a_round_axis():
    svg = daily_tokens_svg(
        ["2026-05-01", "2026-05-02"], ["11", "22"], {("2026-05-01", "11"): 300, ("2026-05-01", "22"): 100}
    )
    assert svg.count('<rect class="bar"') == 2
    assert ">500</text>" in svg  # 400 tokens on the busiest day -> axis up to 500
    assert "2026-05-01 · 11: 300 tokens" in svg and "05-02" in svg


def test_labels_are_escaped():
    svg = daily_tokens_svg(["2026-05-01"], ["<script>"], {("2026-05-01", "<script>"): 5})
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_empty_range_draws_an_empty_chart():
    svg = daily_tokens_svg(["2026-05-01"], [], {})
    assert svg.startswith("<svg") and "<rect" not in svg
