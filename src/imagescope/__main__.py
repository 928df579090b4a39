from imagescope.cli import app

app()
