"""Cases (dossiers) of one authority: the requests they group (`service`), how requests
follow one another (`links`), the persons they are about (`persons`), and where each
request stands (`state_of_play`)."""
