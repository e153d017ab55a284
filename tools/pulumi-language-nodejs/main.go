// Command pulumi-language-nodejs is Berth's own Node.js language host for the Pulumi engine.
//
// Pulumi's language host lives in a Go module (sdk/nodejs/cmd/pulumi-language-nodejs) that the Go
// module proxy reachable from Berth's machines does not serve, so Berth builds this small host
// instead (see docs/toolchain.md). It implements the parts of the LanguageRuntime protocol that
// `pulumi preview/up/destroy/refresh` use for a compiled (JavaScript) program: plugin info,
// required packages (read from the program's node_modules) and Run, which starts Node.js on
// @pulumi/pulumi's own program runner.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.0.0-dev"

// bailExitCode is the exit code @pulumi/pulumi's runner uses after it has already reported the error.
const bailExitCode = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
}

func main() {
	flag.String("root", "", "project root (accepted for compatibility; unused)")
	flag.String("tracing", "", "tracing endpoint (accepted for compatibility; unused)")
	flag.Bool("typescript", true, "accepted for compatibility; use runtime options instead")
	flag.Parse()
	h := &host{}
	if args := flag.Args(); len(args) > 0 {
		h.engineAddress = args[0]
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(s, h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: cannot serve: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: %v\n", err)
		os.Exit(1)
	}
}

func (h *host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// pulumiPackage is the "pulumi" block of a provider SDK's package.json.
type pulumiPackage struct {
	Resource bool   `json:"resource"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Server   string `json:"server"`
}

// requiredPlugins lists the resource plugins named by the packages installed in the program's node_modules.
func requiredPlugins(programDir string) []*pulumirpc.PluginDependency {
	var deps []*pulumirpc.PluginDependency
	seen := map[string]bool{}
	for dir := programDir; ; dir = filepath.Dir(dir) {
		modules := filepath.Join(dir, "node_modules")
		var pkgDirs []string
		entries, _ := os.ReadDir(modules)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "@") {
				scoped, _ := os.ReadDir(filepath.Join(modules, e.Name()))
				for _, s := range scoped {
					pkgDirs = append(pkgDirs, filepath.Join(modules, e.Name(), s.Name()))
				}
			} else {
				pkgDirs = append(pkgDirs, filepath.Join(modules, e.Name()))
			}
		}
		for _, p := range pkgDirs {
			raw, err := os.ReadFile(filepath.Join(p, "package.json"))
			if err != nil {
				continue
			}
			var pkg struct {
				Name    string        `json:"name"`
				Version string        `json:"version"`
				Pulumi  pulumiPackage `json:"pulumi"`
			}
			if json.Unmarshal(raw, &pkg) != nil || !pkg.Pulumi.Resource {
				continue
			}
			name := pkg.Pulumi.Name
			if name == "" {
				name = strings.TrimPrefix(pkg.Name, "@pulumi/")
			}
			ver := pkg.Pulumi.Version
			if ver == "" {
				ver = pkg.Version
			}
			key := name + "@" + ver
			if seen[key] {
				continue
			}
			seen[key] = true
			deps = append(deps, &pulumirpc.PluginDependency{
				Name: name, Kind: "resource", Version: "v" + strings.TrimPrefix(ver, "v"), Server: pkg.Pulumi.Server,
			})
		}
		if filepath.Dir(dir) == dir {
			return deps
		}
	}
}

func (h *host) GetRequiredPlugins(_ context.Context, req *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: requiredPlugins(req.GetInfo().GetProgramDirectory())}, nil
}

func (h *host) GetRequiredPackages(_ context.Context, req *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	var pkgs []*pulumirpc.PackageDependency
	for _, p := range requiredPlugins(req.GetInfo().GetProgramDirectory()) {
		pkgs = append(pkgs, &pulumirpc.PackageDependency{Name: p.Name, Kind: p.Kind, Version: p.Version, Server: p.Server})
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: pkgs}, nil
}

// findRunner walks up from dir to the nearest node_modules/@pulumi/pulumi/cmd/run.
func findRunner(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "node_modules", "@pulumi", "pulumi", "cmd", "run")
		if _, err := os.Stat(filepath.Join(p, "index.js")); err == nil {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("@pulumi/pulumi is not installed in %s or any parent: run `npm install` there", dir)
		}
	}
}

// runtimeOption reads one `runtime.options` value from Pulumi.yaml.
func runtimeOption(opts *structpb.Struct, key string) (*structpb.Value, bool) {
	if opts == nil {
		return nil, false
	}
	v, ok := opts.GetFields()[key]
	return v, ok
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	programDir := info.GetProgramDirectory()
	if programDir == "" {
		programDir = req.GetPwd()
	}
	runner, err := findRunner(programDir)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	program := info.GetEntryPoint()
	if program == "" {
		program = req.GetProgram()
	}
	if program != "." && !filepath.IsAbs(program) {
		program = filepath.Join(programDir, program)
	}

	var nodeArgs []string
	if v, ok := runtimeOption(info.GetOptions(), "nodeargs"); ok {
		nodeArgs = strings.Fields(v.GetStringValue())
	}
	args := append(nodeArgs, runner,
		"--monitor="+req.GetMonitorAddress(),
		"--engine="+h.engineAddress,
		"--organization="+req.GetOrganization(),
		"--project="+req.GetProject(),
		"--stack="+req.GetStack(),
		"--pwd="+programDir,
		"--root-directory="+info.GetRootDirectory(),
		"--parallel="+strconv.Itoa(int(req.GetParallel())),
	)
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	// A stack with no config sends a nil map and list: marshal them as {} and [] (not null, which
	// @pulumi/pulumi's config loader cannot read).
	configMap := req.GetConfig()
	if configMap == nil {
		configMap = map[string]string{}
	}
	secretKeyList := req.GetConfigSecretKeys()
	if secretKeyList == nil {
		secretKeyList = []string{}
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(secretKeyList)
	if err != nil {
		return nil, err
	}
	typescript := "false"
	if v, ok := runtimeOption(info.GetOptions(), "typescript"); ok && v.GetBoolValue() {
		typescript = "true"
	}

	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = programDir
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
		"PULUMI_NODEJS_TYPESCRIPT="+typescript,
	)
	if v, ok := runtimeOption(info.GetOptions(), "tsconfig"); ok {
		cmd.Env = append(cmd.Env, "PULUMI_NODEJS_TSCONFIG_PATH="+v.GetStringValue())
	}
	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exitErr):
		status, _ := exitErr.Sys().(syscall.WaitStatus)
		if status.ExitStatus() == bailExitCode {
			return &pulumirpc.RunResponse{Bail: true}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d", status.ExitStatus())}, nil
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("cannot start node: %v", err)}, nil
	}
}

func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest, stream grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse]) error {
	dir := req.GetInfo().GetProgramDirectory()
	cmd := exec.Command("npm", "install")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if sendErr := stream.Send(&pulumirpc.InstallDependenciesResponse{Stdout: out}); sendErr != nil {
		return sendErr
	}
	if err != nil {
		return fmt.Errorf("npm install in %s: %w", dir, err)
	}
	return nil
}

func (h *host) About(context.Context, *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	out, _ := exec.Command("node", "--version").Output()
	return &pulumirpc.AboutResponse{Executable: "node", Version: strings.TrimSpace(string(out))}, nil
}
