"""Commands of the ``evidence`` group: ``flask --app wsgi evidence pack --request ID --out PATH``."""

from __future__ import annotations

from pathlib import Path

import click

from portal.extensions import db
from portal.files import atomic_file


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""

    @group.command("pack")
    @click.option("--request", "request_id", required=True, help="The request's id.")
    @click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
                  help="Where to write the pack (a .zip; must not exist unless --force).")
    @click.option("--force", is_flag=True, help="Replace --out if it exists.")
    def pack(request_id: str, out_path: str, force: bool) -> None:
        """Make the signed evidence pack of one request (any state) and write it to --out."""
        from portal.audit.heads import HeadError
        from portal.audit.services import Actor
        from portal.evidence.sharing import discard_file, make_pack, pack_bytes
        from portal.rights.models import DataRequest

        out = Path(out_path)
        if out.exists() and not force:
            raise click.ClickException(f"{out} exists already; choose a new file name or add --force.")
        if not out.parent.is_dir():
            raise click.ClickException(f"{out.parent} is not a directory.")
        request = db.session.get(DataRequest, request_id.strip())
        if request is None:
            raise click.ClickException(f"No request has the id {request_id!r}.")
        # Made and recorded like a pack made on the case page (so later packs of the request carry
        # a consistency proof from its head), the file kept sealed in the artifact directory; the
        # commit comes last, once the copy for --out is in place.
        pack = None
        try:
            pack = make_pack(request, Actor.system())
            with atomic_file(out, exclusive=not force) as (fh, outcome):
                fh.write(pack_bytes(pack))
            if not outcome.placed:  # refused to replace a file that appeared meanwhile
                raise click.ClickException(f"{out} appeared while the pack was being made; it was left alone "
                                           "and nothing was recorded: run again.")
            db.session.commit()
        except BaseException as exc:
            db.session.rollback()
            if pack is not None:
                discard_file(pack)
            if isinstance(exc, HeadError):
                raise click.ClickException(str(exc)) from None
            raise
        result = pack
        click.echo(f"path:       {out}")
        click.echo(f"sha256:     {result.sha256}")
        click.echo(f"size:       {result.size} bytes")
        click.echo(f"tree head:  {result.head_id} (size {result.tree_size})")
        click.echo(f"entries:    {result.entries}")
