"""``adrank serve``'s listening sockets and the setting that picks them."""

import socket

import pytest

from adrank.serve_cli import listen_socket, parse_settings


@pytest.mark.parametrize("reuse_port", [True, False])
def test_listen_socket_sets_reuse_port_only_when_asked(reuse_port: bool) -> None:
    with listen_socket("127.0.0.1", 0, reuse_port) as sock:
        assert bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)) is reuse_port
        assert sock.get_inheritable()


def test_two_reuse_port_sockets_share_a_port_and_a_plain_one_does_not() -> None:
    with listen_socket("127.0.0.1", 0, True) as first:
        first.listen()
        port = first.getsockname()[1]
        with listen_socket("127.0.0.1", port, True) as second:
            assert second.getsockname()[1] == port
        with pytest.raises(OSError):
            listen_socket("127.0.0.1", port, False)


def test_reuse_port_setting_from_flags_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADRANK_SERVER__REUSE_PORT", raising=False)
    assert parse_settings([]).server.reuse_port is True
    assert parse_settings(["--no-server.reuse-port"]).server.reuse_port is False
    monkeypatch.setenv("ADRANK_SERVER__REUSE_PORT", "false")
    assert parse_settings([]).server.reuse_port is False
    assert parse_settings(["--server.reuse-port"]).server.reuse_port is True
