# Sourced by scripts/run, scripts/test and .ci/run: the system fonts the PDFs use for text beyond
# Latin, Greek and Cyrillic (static/pdf/report.css names them): Chinese, Japanese, Korean, Arabic,
# Hebrew, Devanagari and the other Noto scripts, and emoji.  Debian's packages, installed only when
# missing; without them the PDFs still render, and leave that text out.
install_pdf_fonts() {
  local pkg missing=()
  command -v dpkg-query >/dev/null 2>&1 || return 0
  for pkg in fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing ${missing[*]} (PDF text in CJK, Arabic, Devanagari… and emoji)…"
  if ! (apt-get install -y -qq "${missing[@]}" || (apt-get update -qq && apt-get install -y -qq "${missing[@]}")) \
      >/dev/null 2>&1; then
    echo "Could not install ${missing[*]} (run as root, or install them): PDFs will leave out text in those scripts." >&2
  fi
}
install_pdf_fonts
