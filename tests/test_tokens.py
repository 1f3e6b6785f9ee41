import socket

import pytest


@pytest.fixture
def no_network(monkeypatch):
    """Any outbound connection fails the test."""
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise AssertionError(f"network access attempted: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def test_tiktoken_counts_offline_with_both_encodings(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    from rag import tokens

    tokens.get_encoding.cache_clear()
    text = "征信修复公司说能删除逾期记录，可信吗？ Hello world"
    cl = tokens.count_tokens(text, "cl100k_base")
    o2 = tokens.count_tokens(text, "o200k_base")
    assert 10 < o2 <= cl < 60
    assert tokens.get_encoding("cl100k_base").decode(tokens.get_encoding("cl100k_base").encode(text)) == text
    # the exact count for a fixed ASCII text is known for cl100k_base
    assert tokens.count_tokens("hello world", "cl100k_base") == 2
    assert no_network == []
    tokens.get_encoding.cache_clear()


def test_unknown_encoding_is_a_clear_error():
    from rag.tokens import get_encoding

    with pytest.raises(ValueError, match="未知的 token 编码"):
        get_encoding("p50k_base")
