package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/pod"
)

// timeLayout is rkt's layout for full timestamps in list and status.
const timeLayout = "2006-01-02 15:04:05.999 -0700 MST"

type listFlags struct {
	full, noLegend bool
	format         string
}

func (f *listFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.full, "full", false, "use long output format")
	fs.BoolVar(&f.noLegend, "no-legend", false, "suppress a legend with the list")
	fs.StringVar(&f.format, "format", "", "output format: json or json-pretty (default: a table)")
}

func checkFormat(format string) error {
	switch format {
	case "", "json", "json-pretty":
		return nil
	}
	return usagef("invalid --format %q (want json or json-pretty)", format)
}

func runList(g *globals, f *listFlags, args []string) error {
	if len(args) != 0 {
		return usagef("list takes no arguments")
	}
	if err := checkFormat(f.format); err != nil {
		return err
	}
	pods, err := pod.List(g.Dir)
	if err != nil {
		return err
	}
	var shown []*pod.Pod
	for _, p := range pods {
		if p.State() != pod.StateEmbryo {
			shown = append(shown, p)
		}
	}
	if f.format != "" {
		out := []*podJSON{}
		for _, p := range shown {
			out = append(out, newPodJSON(p))
		}
		return printJSON(g.Stdout, out, f.format == "json-pretty")
	}
	tw := tabwriter.NewWriter(g.Stdout, 0, 8, 1, '\t', 0)
	if !f.noLegend {
		if f.full {
			fmt.Fprintln(tw, "UUID\tAPP\tIMAGE NAME\tIMAGE ID\tSTATE\tCREATED\tSTARTED\tNETWORKS")
		} else {
			fmt.Fprintln(tw, "UUID\tAPP\tIMAGE NAME\tSTATE\tCREATED\tSTARTED\tNETWORKS")
		}
	}
	now := time.Now()
	for _, p := range shown {
		listPod(tw, p, f.full, now)
	}
	return tw.Flush()
}

// listPod prints a pod's rows: the pod's columns on its first app's row
// only, as rkt does.
func listPod(w io.Writer, p *pod.Pod, full bool, now time.Time) {
	uuid, state := p.UUID, p.State()
	if !full {
		uuid = uuid[:8]
	}
	created, started := fmtTime(p.CreationTime(), full, now), fmtTime(p.StartTime(), full, now)
	nets := pod.FormatNetworks(p.Networks())
	type row struct{ app, image, id string }
	var rows []row
	if pm, err := p.Manifest(); err == nil {
		for _, ra := range pm.Apps {
			r := row{app: ra.Name.String(), image: "--", id: ra.Image.ID.String()}
			if im, err := p.AppImageManifest(ra.Name.String()); err == nil {
				r.image = im.Name.String()
				if v, ok := im.Labels.Get("version"); ok {
					r.image += ":" + v
				}
			}
			if len(r.id) > 19 {
				r.id = r.id[:19]
			}
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		rows = []row{{"-", "-", "-"}}
	}
	for i, r := range rows {
		if i > 0 {
			uuid, state, created, started, nets = "", "", "", "", ""
		}
		if full {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", uuid, r.app, r.image, r.id, state, created, started, nets)
		} else {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", uuid, r.app, r.image, state, created, started, nets)
		}
	}
}

func fmtTime(t time.Time, full bool, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	if full {
		return t.Format(timeLayout)
	}
	return relativeTime(t, now)
}

// podJSON is a pod in list and status JSON output: rkt's API pod, its
// keys and no others, so that tools reading rkt's JSON read saturn's;
// times are Unix nanoseconds.
type podJSON struct {
	UUID            string            `json:"name"`
	State           string            `json:"state"`
	Networks        []pod.NetInfo     `json:"networks,omitempty"`
	AppNames        []string          `json:"app_names,omitempty"`
	Apps            []*appJSON        `json:"apps,omitempty"`
	CreatedAt       *int64            `json:"created_at,omitempty"`
	StartedAt       *int64            `json:"started_at,omitempty"`
	UserAnnotations map[string]string `json:"user_annotations,omitempty"`
	UserLabels      map[string]string `json:"user_labels,omitempty"`
}

// appJSON is an app in status JSON output, with the fields of rkt's API
// app saturn knows: every app of a pod is created and started with it.
type appJSON struct {
	Name            string            `json:"name"`
	State           string            `json:"state"`
	CreatedAt       *int64            `json:"created_at,omitempty"`
	StartedAt       *int64            `json:"started_at,omitempty"`
	FinishedAt      *int64            `json:"finished_at,omitempty"`
	ExitCode        *int              `json:"exit_code,omitempty"`
	ImageID         string            `json:"image_id"`
	Mounts          []pod.AppMount    `json:"mounts,omitempty"`
	UserAnnotations map[string]string `json:"user_annotations,omitempty"`
	UserLabels      map[string]string `json:"user_labels,omitempty"`
	// From the app's cgroup (usage.go): status only, not list.
	OOMKills    uint64  `json:"oom_kills,omitempty"`
	MemoryBytes *uint64 `json:"memory_bytes,omitempty"`
	CPUNanos    *uint64 `json:"cpu_ns,omitempty"`
}

func newPodJSON(p *pod.Pod) *podJSON {
	j := &podJSON{UUID: p.UUID, State: p.State(), Networks: p.Networks()}
	if t := p.CreationTime(); !t.IsZero() {
		n := t.UnixNano()
		j.CreatedAt = &n
	}
	if t := p.StartTime(); !t.IsZero() {
		n := t.UnixNano()
		j.StartedAt = &n
	}
	pm, err := p.Manifest()
	if err != nil {
		return j
	}
	j.UserAnnotations, j.UserLabels = pm.UserAnnotations, pm.UserLabels
	for _, ra := range pm.Apps {
		name := ra.Name.String()
		j.AppNames = append(j.AppNames, name)
		a := &appJSON{Name: name, State: appState(p, name), ImageID: ra.Image.ID.String(),
			CreatedAt: j.CreatedAt, StartedAt: j.StartedAt}
		if code, err := p.AppExitCode(name); err == nil {
			a.ExitCode = &code
		}
		if t := p.AppFinishTime(name); !t.IsZero() {
			n := t.UnixNano()
			a.FinishedAt = &n
		}
		app := ra.App
		if app == nil {
			if im, err := p.AppImageManifest(name); err == nil {
				app = im.App
			}
		}
		a.Mounts = p.AppMounts(pm, &ra, app)
		if app != nil {
			a.UserAnnotations, a.UserLabels = app.UserAnnotations, app.UserLabels
		}
		j.Apps = append(j.Apps, a)
	}
	return j
}

// appState is rkt's app state: created before the pod runs, running,
// exited once stage1 recorded its status, unknown otherwise.
func appState(p *pod.Pod, app string) string {
	if _, err := p.AppExitCode(app); err == nil {
		return "exited"
	}
	switch p.State() {
	case pod.StatePreparing, pod.StatePrepared:
		return "created"
	case pod.StateRunning:
		return "running"
	}
	return "unknown"
}

func printJSON(w io.Writer, v any, pretty bool) error {
	var b []byte
	var err error
	if pretty {
		b, err = json.MarshalIndent(v, "", "\t")
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return fmt.Errorf("marshal output: %w", err)
	}
	_, err = fmt.Fprintln(w, strings.TrimSpace(string(b)))
	return err
}
