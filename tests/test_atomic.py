import pytest

from matcher.atomic import atomic_file


def test_a_file_is_replaced_only_when_written_whole(tmp_path):
    target = tmp_path / "sub" / "cache.bin"
    with atomic_file(target) as out:
        out.write(b"first")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as out:
            out.write(b"half of the sec")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"first"
    assert [p.name for p in target.parent.iterdir()] == ["cache.bin"], "no temporary file is left behind"
