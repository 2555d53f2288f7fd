

def test_exec_on_a_powered_off_node_says_so():
    from testbed.emulation.runs import node_pid
    net = RunningNetwork("aaaaa", "ring", "", 0.0, 1, "", {"x": 100, "y": 101}, off=("y",))
    assert node_pid(net, "x") == 100
    with pytest.raises(UsageError, match=r"y is powered off in run aaaaa.*`power-on y`"):
        node_pid(net, "y")
