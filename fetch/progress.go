package fetch

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// progressReader draws rkt's "Downloading ACI: [====   ] 3.25 MB/3.7 MB"
// line on a terminal while the body is read. It is only used when stderr
// is a terminal, so scripts and logs never see carriage returns.
type progressReader struct {
	r     io.Reader
	w     io.Writer
	label string
	total int64
	done  int64
	last  time.Time
	ended bool
}

const barWidth = 40

func newProgressReader(r io.Reader, w io.Writer, label string, total int64) *progressReader {
	return &progressReader{r: r, w: w, label: label, total: total}
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	now := time.Now()
	if errors.Is(err, io.EOF) && !p.ended {
		p.ended = true
		p.draw()
		fmt.Fprintln(p.w)
	} else if now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		p.draw()
	}
	return n, err
}

func (p *progressReader) draw() {
	if p.total <= 0 {
		fmt.Fprintf(p.w, "\r%s: %s", p.label, humanSize(p.done))
		return
	}
	filled := int(float64(barWidth) * float64(p.done) / float64(p.total))
	filled = min(max(filled, 0), barWidth)
	fmt.Fprintf(p.w, "\r%s: [%s%s] %s/%s", p.label,
		strings.Repeat("=", filled), strings.Repeat(" ", barWidth-filled),
		humanSize(p.done), humanSize(p.total))
}

// humanSize prints a byte count the way rkt's progress bar did.
func humanSize(n int64) string {
	units := []string{"B", "KB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.3g %s", f, units[i])
}
