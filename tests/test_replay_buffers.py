

@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_bad_targets_get_the_eager_error_from_a_replay(bad: float) -> None:
    net = ng.nn.Network([2, 3, 2], seed=0)
    step = ng.compile_step(lambda X, Y: net.cost(X, Y))
    X, Y = np.ones((4, 2)), np.zeros((4, 2))
    step(X, Y)
    step(X, Y)
    Y[2, 1] = bad
    what = "NaN" if np.isnan(bad) else "infinite values"
    message = rf"quadratic_cost: targets contain {what} \(1 of 8 values\); the first is at index \(2, 1\)"
    with pytest.raises(ng.LabelError, match=message):
        net.cost(X, Y)
    with pytest.raises(ng.LabelError, match=message):
        step(X, Y)
