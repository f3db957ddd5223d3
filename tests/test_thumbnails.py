import io
import threading
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from matcher.thumbnails import Thumbnails, placeholder


def test_thumbnails_are_small_cached_and_renewed_when_the_photo_changes(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (1200, 800), (200, 10, 10)).save(photos / "a.jpg")
    thumbs = Thumbnails(photos, tmp_path / "cache", size=100)
    first = Image.open(io.BytesIO(thumbs.thumbnail("a.jpg")))
    assert max(first.size) == 100 and first.getpixel((50, 30))[0] > 150
    assert len(list((tmp_path / "cache").rglob("*.jpg"))) == 1
    Image.new("RGB", (600, 600), (10, 10, 200)).save(photos / "a.jpg")
    second = Image.open(io.BytesIO(thumbs.thumbnail("a.jpg")))
    assert second.size == (100, 100) and second.getpixel((50, 50))[2] > 150


def test_missing_outside_and_broken_photos_get_the_placeholder(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "secret.jpg").write_bytes(b"x")
    thumbs = Thumbnails(tmp_path / "photos", tmp_path / "cache")
    for name in ("missing.jpg", "../secret.jpg", "broken.jpg", "", "/etc/passwd"):
        assert thumbs.thumbnail(name) == placeholder()
    assert Thumbnails(None, tmp_path / "cache").thumbnail("a.jpg") == placeholder()


def test_sessions_making_the_same_thumbnail_at_once_all_get_it(tmp_path):
    """The app's sessions are threads of one process: the eight-moderator load test found them colliding here."""
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (1600, 1200), (10, 200, 10)).save(photos / "a.jpg")
    for attempt in range(5):
        thumbs = Thumbnails(photos, tmp_path / f"cache{attempt}", size=100)
        start = threading.Barrier(8)

        def make():
            start.wait()
            return thumbs.thumbnail("a.jpg")

        with ThreadPoolExecutor(8) as pool:
            made = [future.result() for future in [pool.submit(make) for _ in range(8)]]
        assert len(set(made)) == 1 and made[0] != placeholder(100)
        assert [p.name for p in (tmp_path / f"cache{attempt}").rglob("*") if p.is_file()] == [
            p.name for p in (tmp_path / f"cache{attempt}").rglob("*.jpg")], "no temporary file is left behind"
