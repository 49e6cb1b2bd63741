"""The multipart/mixed framing of federation media answers, both ways."""

from __future__ import annotations

from twisted.trial import unittest

from homeserver.federation.multipart import (
    MalformedMultipart,
    boundary_of,
    filename_from_disposition,
    multipart_head,
    multipart_tail,
    parse_media_answer,
)


class MultipartTest(unittest.TestCase):
    def test_round_trip(self) -> None:
        data = b"--b\r\n\r\n--notb binary \x00\xff"
        body = multipart_head("b0", b"image/png", b'inline; filename="a.png"') + data + multipart_tail("b0")
        part = parse_media_answer("multipart/mixed; boundary=b0", body)
        self.assertEqual((part.metadata, part.content_type, part.data, part.location), ({}, "image/png", data, None))
        self.assertEqual(filename_from_disposition(part.content_disposition), "a.png")

    def test_location_part(self) -> None:
        body = (b"--x\r\nContent-Type: application/json\r\n\r\n{}\r\n--x\r\nLocation: https://cdn.example/a\r\n\r\n"
                b"\r\n--x--")
        part = parse_media_answer('Multipart/Mixed; charset=x; boundary="x"', body)
        self.assertEqual((part.location, part.data), ("https://cdn.example/a", b""))

    def test_refusals(self) -> None:
        for content_type in (None, "text/plain; boundary=x", "multipart/mixed", "multipart/mixed; boundary=",
                             "multipart/mixed; boundary=" + "a" * 71, "multipart/mixed; boundary=bad\x01"):
            with self.assertRaises(MalformedMultipart):
                boundary_of(content_type)
        ok_meta = b"--x\r\nContent-Type: application/json\r\n\r\n{}\r\n"
        for body in (b"", b"--x--", ok_meta + b"--x--", ok_meta + b"--x\r\nbroken header line\r\n\r\nabc\r\n--x--",
                     ok_meta + b"--x\r\n\r\nabc", ok_meta + b"--xjunk\r\n\r\nabc\r\n--x--"):
            with self.assertRaises(MalformedMultipart, msg=body):
                parse_media_answer("multipart/mixed; boundary=x", body)

    def test_filenames(self) -> None:
        self.assertEqual(filename_from_disposition("attachment; filename*=utf-8''caf%C3%A9.txt; filename=x"), "café.txt")
        self.assertEqual(filename_from_disposition('inline; filename="a \\"b\\".png"'), 'a "b".png')
        self.assertIsNone(filename_from_disposition("inline"))
        self.assertIsNone(filename_from_disposition(None))
        self.assertEqual(filename_from_disposition("inline; filename*=utf-8''%FF; filename=f"), "f")
